//! The two image forms plugins ship in, read and written:
//!
//! - an OCI artifact whose layer is the module (`application/vnd.module.wasm.content.layer.v1+wasm`,
//!   as Istio and Envoy Gateway build them; `application/vnd.wasm.content.layer.v1+wasm` of
//!   the CNCF wasm artifact layout is read too);
//! - an image (OCI or Docker) whose layer tarball, gzip-compressed or not, holds `plugin.wasm`
//!   at its root, as Higress builds its plugin images (`FROM scratch`, `COPY main.wasm
//!   plugin.wasm`); Istio's puller takes these as its "compat" form.
//!
//! wasmgate pushes the second form: Higress, Istio and Envoy Gateway all pull it, and it is
//! an ordinary image to registries and tools such as skopeo.

use std::io::Read;

use flate2::read::GzDecoder;

/// Layer media types whose blob is the module itself.
pub(crate) const WASM_LAYERS: [&str; 2] = [
    "application/vnd.module.wasm.content.layer.v1+wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
];

/// The layer wasmgate pushes.
pub(crate) const PUSHED_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The config wasmgate pushes.
pub(crate) const PUSHED_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The file a Higress-style image's layer holds.
const MODULE_FILE: &str = "plugin.wasm";

fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm")
}

/// The module in one layer: the blob of a wasm layer, or `plugin.wasm` of a tarball.
/// `Err` says why a layer that should hold it does not.
pub(crate) fn module_of(media_type: &str, blob: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if WASM_LAYERS.contains(&media_type) {
        return if is_wasm(blob) {
            Ok(Some(blob.to_vec()))
        } else {
            Err(format!("its {media_type} layer is not a wasm module"))
        };
    }
    if !media_type.contains("tar") {
        return Ok(None);
    }
    let mut raw = Vec::new();
    let unpacked: &[u8] = if blob.starts_with(&[0x1f, 0x8b]) {
        GzDecoder::new(blob)
            .read_to_end(&mut raw)
            .map_err(|e| format!("its layer is not a gzip tarball: {e}"))?;
        &raw
    } else {
        blob
    };
    let mut archive = tar::Archive::new(unpacked);
    let entries = archive
        .entries()
        .map_err(|e| format!("its layer is not a tarball: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("its layer tarball is broken: {e}"))?;
        let path = entry.path().map(|p| p.into_owned()).unwrap_or_default();
        if path.strip_prefix(".").unwrap_or(&path) == std::path::Path::new(MODULE_FILE) {
            let mut module = Vec::new();
            entry
                .read_to_end(&mut module)
                .map_err(|e| format!("its plugin.wasm cannot be read: {e}"))?;
            return if is_wasm(&module) {
                Ok(Some(module))
            } else {
                Err("its plugin.wasm is not a wasm module".into())
            };
        }
    }
    Ok(None)
}

/// A Higress-style image of `module`: its layer (a gzip tarball with `plugin.wasm`) and its
/// OCI image config.
pub(crate) fn image_of(module: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut tarball = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(module.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tarball.append_data(&mut header, MODULE_FILE, module)?;
    let tarball = tarball.into_inner()?;
    let diff_id = crate::cache::sha256_hex(&tarball);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gzip, &tarball)?;
    let layer = gzip.finish()?;
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip1",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "config": {},
    });
    Ok((layer, config.to_string().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn a_pushed_image_gives_its_module_back() {
        let (layer, config) = image_of(MODULE).unwrap();
        assert_eq!(module_of(PUSHED_LAYER, &layer).unwrap().unwrap(), MODULE);
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["architecture"], "wasm");
    }

    #[test]
    fn layers_are_read_by_form() {
        assert_eq!(module_of(WASM_LAYERS[0], MODULE).unwrap().unwrap(), MODULE);
        assert!(module_of(WASM_LAYERS[0], b"text").is_err());
        assert_eq!(
            module_of("application/vnd.oci.image.config.v1+json", b"{}").unwrap(),
            None
        );
    }
}
