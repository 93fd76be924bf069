//! Upstream Envoy refuses Higress's `proxy_abi_version_0_2_100` marker. For an Envoy export,
//! a plugin with that marker gets a copy with the export renamed to
//! `proxy_abi_version_0_2_1`: every section is copied byte for byte except the export
//! section, which is rebuilt with the one name changed.
//!
//! The two ABIs differ in one behaviour: under 0_2_100 a request-headers StopIteration (1)
//! is honoured, under 0_2_1 Envoy rewrites it to StopAllIterationAndWatermark.

use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// Higress's marker.
pub const HIGRESS_MARKER: &str = "proxy_abi_version_0_2_100";
/// The standard marker Envoy accepts.
pub const STANDARD_MARKER: &str = "proxy_abi_version_0_2_1";

/// `wasm` with the export `from` renamed to `to` (the rest byte for byte), or `None` if it
/// has no export named `from`.
pub fn rename_export(
    wasm: &[u8],
    from: &str,
    to: &str,
) -> Result<Option<Vec<u8>>, wasmparser::BinaryReaderError> {
    let mut module = Module::new();
    let mut renamed = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        if let Payload::ExportSection(reader) = &payload {
            let mut section = ExportSection::new();
            for export in reader.clone() {
                let export = export?;
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

/// A copy of `wasm` with the standard marker, or `None` if it does not carry Higress's.
pub fn for_upstream_envoy(wasm: &[u8]) -> Result<Option<Vec<u8>>, wasmparser::BinaryReaderError> {
    rename_export(wasm, HIGRESS_MARKER, STANDARD_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(wasm: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            if let Payload::ExportSection(reader) = payload.unwrap() {
                for export in reader {
                    names.push(export.unwrap().name.to_string());
                }
            }
        }
        names
    }

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
        let copy = for_upstream_envoy(&original).unwrap().expect("renamed");
        assert_eq!(exports(&copy), [STANDARD_MARKER, "other"]);
        wasmparser::Validator::new().validate_all(&copy).unwrap();
        assert!(copy.windows(4).any(|w| w == b"kept"));
        assert_eq!(
            for_upstream_envoy(&module_with(STANDARD_MARKER)).unwrap(),
            None
        );
    }
}
