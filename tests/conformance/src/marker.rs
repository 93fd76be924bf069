//! Upstream Envoy refuses Higress's `proxy_abi_version_0_2_100` marker. For the Envoy side
//! only, the suite writes a copy of such a plugin with that export renamed to
//! `proxy_abi_version_0_2_1`: every section is copied byte for byte except the export
//! section, which is rebuilt with the one name changed.
//!
//! The two ABIs differ in one behaviour: under 0_2_100 a request-headers StopIteration (1)
//! is honoured, under 0_2_1 Envoy rewrites it to StopAllIterationAndWatermark. Cases whose
//! plugins return it from request headers expect that difference.

use std::path::{Path, PathBuf};

use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// Higress's marker.
pub const HIGRESS_MARKER: &str = "proxy_abi_version_0_2_100";
/// The standard marker Envoy accepts.
pub const STANDARD_MARKER: &str = "proxy_abi_version_0_2_1";

/// The names a module exports.
pub fn exports(wasm: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ExportSection(reader) = payload.map_err(|e| e.to_string())? {
            for export in reader {
                names.push(export.map_err(|e| e.to_string())?.name.to_string());
            }
        }
    }
    Ok(names)
}

/// `wasm` with the export `from` renamed to `to` (the rest byte for byte), or `None` if it
/// has no export named `from`.
pub fn rename_export(wasm: &[u8], from: &str, to: &str) -> Result<Option<Vec<u8>>, String> {
    let mut module = Module::new();
    let mut renamed = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| e.to_string())?;
        if let Payload::ExportSection(reader) = &payload {
            let mut section = ExportSection::new();
            for export in reader.clone() {
                let export = export.map_err(|e| e.to_string())?;
                let kind = match export.kind {
                    ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
                    ExternalKind::Table => ExportKind::Table,
                    ExternalKind::Memory => ExportKind::Memory,
                    ExternalKind::Global => ExportKind::Global,
                    ExternalKind::Tag => ExportKind::Tag,
                };
                let name = if export.name == from {
                    renamed = true;
                    to
                } else {
                    export.name
                };
                section.export(name, kind, export.index);
            }
            module.section(&section);
        } else if let Some((id, range)) = payload.as_section() {
            module.section(&RawSection {
                id,
                data: &wasm[range],
            });
        }
    }
    Ok(renamed.then(|| module.finish()))
}

/// The file Envoy loads for `wasm`: `wasm` itself, or (for a `0_2_100` plugin) a copy with
/// the standard marker written into `dir`.
pub fn for_envoy(wasm: &Path, dir: &Path) -> Result<PathBuf, String> {
    let bytes = std::fs::read(wasm).map_err(|e| format!("read {}: {e}", wasm.display()))?;
    match rename_export(&bytes, HIGRESS_MARKER, STANDARD_MARKER)? {
        None => Ok(wasm.to_path_buf()),
        Some(copy) => {
            let name = wasm
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "plugin".into());
            let path = dir.join(format!("{name}.abi_0_2_1.wasm"));
            std::fs::write(&path, copy).map_err(|e| format!("write {}: {e}", path.display()))?;
            Ok(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(marker: &str) -> Vec<u8> {
        let mut module = Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        module.section(&types);
        let mut functions = wasm_encoder::FunctionSection::new();
        functions.function(0);
        module.section(&functions);
        let mut exports = ExportSection::new();
        exports.export(marker, ExportKind::Func, 0);
        exports.export("other", ExportKind::Func, 0);
        module.section(&exports);
        let mut code = wasm_encoder::CodeSection::new();
        let mut body = wasm_encoder::Function::new([]);
        body.instructions().end();
        code.function(&body);
        module.section(&code);
        module.section(&wasm_encoder::CustomSection {
            name: "note".into(),
            data: b"kept".into(),
        });
        module.finish()
    }

    #[test]
    fn renames_only_the_marker_and_keeps_a_valid_module() {
        let original = module_with(HIGRESS_MARKER);
        let copy = rename_export(&original, HIGRESS_MARKER, STANDARD_MARKER)
            .unwrap()
            .expect("renamed");
        assert_eq!(exports(&copy).unwrap(), [STANDARD_MARKER, "other"]);
        wasmparser::Validator::new().validate_all(&copy).unwrap();
        assert!(copy.windows(4).any(|w| w == b"kept"));
        assert_eq!(
            rename_export(
                &module_with(STANDARD_MARKER),
                HIGRESS_MARKER,
                STANDARD_MARKER
            )
            .unwrap(),
            None
        );
    }
}
