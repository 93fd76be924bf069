//! Plugins from `http://` and `https://` URLs (Istio's and Envoy Gateway's other source):
//! one GET, TLS against the public roots and the configured CA file.

use crate::error::ImageError;
use crate::registry::source_chain;
use crate::settings::FetchSettings;

/// The module at `url`.
pub(crate) async fn download(url: &str, settings: &FetchSettings) -> Result<Vec<u8>, ImageError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120));
    if let Some(ca) = &settings.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| ImageError::io(format!("CA file {}", ca.display()), e))?;
        let certificate =
            reqwest::Certificate::from_pem(&pem).map_err(|e| ImageError::Registry {
                image: url.into(),
                detail: format!("CA file {}: {e}", ca.display()),
            })?;
        builder = builder.add_root_certificate(certificate);
    }
    let client = builder.build().map_err(|e| ImageError::Registry {
        image: url.into(),
        detail: source_chain(&e),
    })?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| ImageError::Unreachable {
            image: url.into(),
            detail: source_chain(&e),
        })?;
    let status = response.status();
    match status.as_u16() {
        200..=299 => {}
        401 | 403 => {
            return Err(ImageError::Unauthorized {
                image: url.into(),
                status: status.to_string(),
                tried: "none (URLs are fetched without credentials)".into(),
            })
        }
        404 => {
            return Err(ImageError::NotFound {
                image: url.into(),
                detail: status.to_string(),
            })
        }
        _ => {
            return Err(ImageError::Registry {
                image: url.into(),
                detail: format!("the server answered {status}"),
            })
        }
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| ImageError::Unreachable {
            image: url.into(),
            detail: source_chain(&e),
        })?;
    if !body.starts_with(b"\0asm") {
        return Err(ImageError::NotWasm {
            image: url.into(),
            detail: "what it serves is not a wasm module".into(),
        });
    }
    Ok(body.to_vec())
}
