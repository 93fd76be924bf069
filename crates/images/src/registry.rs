//! The OCI distribution API through the ORAS project's `oci-client` (token flow, basic auth,
//! manifests and blobs): pulling the module out of either image form, and pushing one.
//! TLS checks the public roots and a CA file the config names; registries on loopback
//! addresses are tried over HTTPS then plain HTTP (as Docker treats them), and the
//! registries the config names as insecure are spoken to over plain HTTP only.

use std::collections::BTreeMap;

use oci_client::client::{
    Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer,
};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::credentials::{self, Credential};
use crate::error::ImageError;
use crate::form;
use crate::settings::FetchSettings;

/// What a pull gave: the module and the image's manifest digest (hex).
pub(crate) struct Pulled {
    pub(crate) module: Vec<u8>,
    pub(crate) digest: String,
}

/// One image's registry, spoken to with the settings and credentials that apply to it.
pub(crate) struct Registry<'a> {
    image: String,
    reference: Reference,
    settings: &'a FetchSettings,
    credential: Option<Credential>,
    looked: Vec<String>,
}

fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    host == "localhost" || host.starts_with("127.") || host == "[::1]"
}

impl<'a> Registry<'a> {
    /// The registry of `image` (a reference without `oci://`); `secret` is a pull secret's
    /// name and docker config text.
    pub(crate) fn new(
        image: &str,
        settings: &'a FetchSettings,
        secret: Option<(&str, &str)>,
    ) -> Result<Registry<'a>, ImageError> {
        let reference: Reference = image.parse().map_err(|e| ImageError::BadUrl {
            url: format!("oci://{image}"),
            reason: format!("not an image reference: {e}"),
        })?;
        let (credential, looked) = credentials::lookup(reference.resolve_registry(), secret);
        Ok(Registry {
            image: format!("oci://{image}"),
            reference,
            settings,
            credential,
            looked,
        })
    }

    fn auth(&self) -> RegistryAuth {
        match &self.credential {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    fn tried(&self) -> String {
        match &self.credential {
            Some(c) => format!("user {} from {}", c.username, c.from),
            None if self.looked.is_empty() => "none".into(),
            None => format!(
                "none (no entry for {} in {})",
                self.reference.resolve_registry(),
                self.looked.join(", ")
            ),
        }
    }

    /// The protocols to try, in order.
    fn protocols(&self) -> Vec<ClientProtocol> {
        let registry = self.reference.resolve_registry().to_string();
        if self.settings.insecure_registries.contains(&registry) {
            vec![ClientProtocol::Http]
        } else if is_loopback(&registry) {
            vec![ClientProtocol::Https, ClientProtocol::Http]
        } else {
            vec![ClientProtocol::Https]
        }
    }

    fn client(&self, protocol: ClientProtocol) -> Result<Client, ImageError> {
        let mut extra_root_certificates = Vec::new();
        if let Some(ca) = &self.settings.ca_file {
            let data = std::fs::read(ca)
                .map_err(|e| ImageError::io(format!("CA file {}", ca.display()), e))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        Ok(Client::new(ClientConfig {
            protocol,
            extra_root_certificates,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..ClientConfig::default()
        }))
    }

    /// Pulls the module out of the image.
    pub(crate) async fn pull(&self) -> Result<Pulled, ImageError> {
        let mut last = None;
        for protocol in self.protocols() {
            let client = self.client(protocol)?;
            match self.pull_with(&client).await {
                Err(ImageError::Unreachable { detail, .. }) => last = Some(detail),
                other => return other,
            }
        }
        Err(ImageError::Unreachable {
            image: self.image.clone(),
            detail: last.unwrap_or_default(),
        })
    }

    async fn pull_with(&self, client: &Client) -> Result<Pulled, ImageError> {
        let auth = self.auth();
        let (manifest, digest) = client
            .pull_image_manifest(&self.reference, &auth)
            .await
            .map_err(|e| self.error(e))?;
        let mut seen = Vec::new();
        for layer in manifest.layers.iter().rev() {
            let mut blob: Vec<u8> = Vec::new();
            client
                .pull_blob(&self.reference, layer, &mut blob)
                .await
                .map_err(|e| self.error(e))?;
            match form::module_of(&layer.media_type, &blob) {
                Ok(Some(module)) => {
                    return Ok(Pulled {
                        module,
                        digest: digest.trim_start_matches("sha256:").to_string(),
                    })
                }
                Ok(None) => seen.push(layer.media_type.clone()),
                Err(detail) => {
                    return Err(ImageError::NotWasm {
                        image: self.image.clone(),
                        detail,
                    })
                }
            }
        }
        Err(ImageError::NotWasm {
            image: self.image.clone(),
            detail: format!(
                "no layer is a wasm module or a tarball with plugin.wasm (layers: {})",
                seen.join(", ")
            ),
        })
    }

    /// Pushes `module` as a Higress-style image; the manifest digest (`sha256:…`).
    pub(crate) async fn push(&self, module: &[u8]) -> Result<String, ImageError> {
        let (layer, config) =
            form::image_of(module).map_err(|e| ImageError::io("building the image", e))?;
        let title = BTreeMap::from([(
            "org.opencontainers.image.title".to_string(),
            "plugin.wasm".to_string(),
        )]);
        let layers = [ImageLayer::new(
            layer,
            form::PUSHED_LAYER.into(),
            Some(title),
        )];
        let mut last = None;
        for protocol in self.protocols() {
            let client = self.client(protocol)?;
            let config = Config {
                data: config.clone().into(),
                media_type: form::PUSHED_CONFIG.into(),
                annotations: None,
            };
            let pushed = client
                .push(&self.reference, &layers, config, &self.auth(), None)
                .await;
            let digest = match pushed {
                Ok(_) => {
                    client
                        .fetch_manifest_digest(&self.reference, &self.auth())
                        .await
                }
                Err(e) => Err(e),
            };
            match digest.map_err(|e| self.error(e)) {
                Err(ImageError::Unreachable { detail, .. }) => last = Some(detail),
                other => return other,
            }
        }
        Err(ImageError::Unreachable {
            image: self.image.clone(),
            detail: last.unwrap_or_default(),
        })
    }

    fn error(&self, error: OciDistributionError) -> ImageError {
        let image = self.image.clone();
        let text = format!("{error:?}");
        let unauthorized = |status: &str| ImageError::Unauthorized {
            image: image.clone(),
            status: status.into(),
            tried: self.tried(),
        };
        match &error {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized("401 Unauthorized"),
            OciDistributionError::ServerError { code: 401, .. } => unauthorized("401 Unauthorized"),
            OciDistributionError::ServerError { code: 403, .. } => unauthorized("403 Forbidden"),
            _ if text.contains("Unauthorized") => unauthorized("401 Unauthorized"),
            _ if text.contains("Denied") => unauthorized("403 Forbidden"),
            OciDistributionError::ImageManifestNotFoundError(detail) => ImageError::NotFound {
                image,
                detail: detail.clone(),
            },
            OciDistributionError::ServerError {
                code: 404, message, ..
            } => ImageError::NotFound {
                image,
                detail: message.clone(),
            },
            _ if text.contains("ManifestUnknown") || text.contains("NameUnknown") => {
                ImageError::NotFound {
                    image,
                    detail: "no such repository or tag".into(),
                }
            }
            OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
                ImageError::Unreachable {
                    image,
                    detail: source_chain(e),
                }
            }
            OciDistributionError::RequestError(e) if e.is_request() => ImageError::Unreachable {
                image,
                detail: source_chain(e),
            },
            other => ImageError::Registry {
                image,
                detail: other.to_string(),
            },
        }
    }
}

/// An error with its causes, on one line.
pub(crate) fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
