//! Plugin sources: where a plugin's wasm comes from — a local file (a path or `file://`), an
//! `oci://` image or an `http(s)://` URL — and, for the last two, fetching it into the
//! content-addressed cache with `wasmgate-images` (`sha256` checked, the pull policy
//! applied). The `images:` part of a `wasmgate.yaml` says how: a CA file, registries spoken
//! to over plain HTTP, and the pull secrets (docker config files) that a plugin's
//! `image_pull_secret` or a WasmPlugin's `imagePullSecret` name, or else the
//! `.dockerconfigjson` key of that Secret in the `secrets:` store (as a Kubernetes pull secret
//! holds it). It also keeps the store for the entries' `${secret.…}` references.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmgate_images::{FetchSettings, Fetcher, PluginSource, PluginUrl, PullPolicy};

use super::entry::check_wasm;
use super::error::{ConfigError, Locator};
use super::secrets::Secrets;

/// The `images:` section of a `wasmgate.yaml`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileImages {
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    #[serde(default)]
    pull_secrets: BTreeMap<String, PathBuf>,
}

/// How this configuration's plugins are fetched.
pub(crate) struct Sources {
    settings: FetchSettings,
    /// Pull secret name → its docker config file.
    pull_secrets: BTreeMap<String, PathBuf>,
    /// The `secrets:` store.
    secrets: Secrets,
}

/// What a plugin entry says about its source besides where it is.
#[derive(Default)]
pub(crate) struct SourceOptions<'a> {
    pub(crate) sha256: Option<&'a str>,
    pub(crate) pull_policy: Option<&'a str>,
    pub(crate) pull_secret: Option<&'a str>,
}

/// How images are fetched on this machine before a configuration says more: into
/// wasmgate's cache dir (`$WASMGATE_CACHE_DIR`, else `~/.cache/wasmgate`).
pub fn default_fetch_settings() -> FetchSettings {
    FetchSettings {
        cache_dir: wasmgate_host::runtime::default_cache_dir()
            .unwrap_or_else(|| std::env::temp_dir().join("wasmgate")),
        ..FetchSettings::default()
    }
}

impl Sources {
    /// The sources of a file whose `images:` section is `images` (paths relative to `base`).
    pub(crate) fn new(base: &Path, images: Option<FileImages>, secrets: Secrets) -> Sources {
        let images = images.unwrap_or_default();
        Sources {
            settings: FetchSettings {
                ca_file: images.ca_file.map(|ca| base.join(ca)),
                insecure_registries: images.insecure_registries,
                ..default_fetch_settings()
            },
            pull_secrets: images
                .pull_secrets
                .into_iter()
                .map(|(name, path)| (name, base.join(path)))
                .collect(),
            secrets,
        }
    }

    /// A plugin's configuration as it reaches the plugin: `json` with its secret
    /// references filled from the `secrets:` store.
    pub(crate) fn plugin_config(
        &self,
        at: &Locator<'_>,
        mut json: serde_json::Value,
    ) -> Result<Vec<u8>, ConfigError> {
        self.secrets
            .fill(&mut json)
            .map_err(|u| at.error(&u.reference, &u.reason))?;
        Ok(serde_json::to_vec(&json).unwrap_or_default())
    }

    /// The local `.wasm` of `written` (relative to `base`) and, when it was fetched, the URL.
    pub(crate) fn resolve(
        &self,
        at: &Locator<'_>,
        base: &Path,
        written: &str,
        options: SourceOptions<'_>,
    ) -> Result<(PathBuf, Option<String>), ConfigError> {
        let url = PluginUrl::parse(written, base).map_err(|e| at.error(written, &e.to_string()))?;
        let PluginUrl::File(path) = url else {
            let source = self.source(at, written, options)?;
            let path = Fetcher::new(self.settings.clone())
                .fetch(&source)
                .map_err(|e| at.error(written, &e.to_string()))?;
            check_wasm(at, written, &path)?;
            return Ok((path, Some(written.to_string())));
        };
        check_wasm(at, written, &path)?;
        Ok((path, None))
    }

    fn source(
        &self,
        at: &Locator<'_>,
        written: &str,
        options: SourceOptions<'_>,
    ) -> Result<PluginSource, ConfigError> {
        let pull_policy =
            PullPolicy::parse(options.pull_policy).map_err(|e| at.error(written, &e))?;
        let pull_secret = match options.pull_secret.filter(|s| !s.is_empty()) {
            None => None,
            Some(name) => Some(self.pull_secret(at, name)?),
        };
        Ok(PluginSource {
            url: written.to_string(),
            sha256: options.sha256.map(str::to_string),
            pull_policy,
            pull_secret,
        })
    }

    /// A pull secret's label (for errors) and docker config JSON: the file
    /// `images.pull_secrets` names, or else the Secret's `.dockerconfigjson` in the store.
    fn pull_secret(&self, at: &Locator<'_>, name: &str) -> Result<(String, String), ConfigError> {
        if let Some(file) = self.pull_secrets.get(name) {
            let text = std::fs::read_to_string(file).map_err(|e| {
                at.error(
                    name,
                    &format!("pull secret {name}: {}: {e}", file.display()),
                )
            })?;
            return Ok((format!("pull secret {name} ({})", file.display()), text));
        }
        let json = self.secrets.get(None, name, ".dockerconfigjson").map_err(|e| {
            at.error(
                name,
                &format!("pull secret {name:?} is neither in images.pull_secrets nor a Secret of the secrets store: {e}"),
            )
        })?;
        let text = String::from_utf8(json).map_err(|_| {
            at.error(
                name,
                &format!("pull secret {name}: its .dockerconfigjson is not UTF-8 text"),
            )
        })?;
        Ok((
            format!("pull secret {name} (secret {name}.dockerconfigjson)"),
            text,
        ))
    }
}
