//! What a `.wasm` declares, for `wasmgate inspect`: its ABI marker, the toolchain named in its
//! producers section, its imports (and whether this host provides each) and the proxy-wasm
//! callbacks it exports. Reads the module without compiling it.

use wasmgate_abi::AbiVersion;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

/// One import of the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Module name (`env`, `wasi_snapshot_preview1`, …).
    pub module: String,
    /// Function name.
    pub name: String,
    /// Whether wasmgate provides it.
    pub provided: bool,
}

/// The report of [`inspect`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The ABI marker export, if any.
    pub abi: Option<AbiVersion>,
    /// `proxy_abi_version_*` exports this host does not know.
    pub unknown_markers: Vec<String>,
    /// `language`, `processed-by` and `sdk` entries of the producers section, as
    /// `field: name version`.
    pub producers: Vec<String>,
    /// Function imports.
    pub imports: Vec<Import>,
    /// Exported `proxy_on_*` callbacks and the start functions.
    pub callbacks: Vec<String>,
    /// Size of the file in bytes.
    pub size: usize,
}

impl Report {
    /// Imports the host does not provide.
    pub fn missing(&self) -> impl Iterator<Item = &Import> {
        self.imports.iter().filter(|i| !i.provided)
    }
}

/// Why a module cannot be inspected: the parser's error, in one line.
#[derive(Debug, thiserror::Error)]
#[error("not a valid wasm module: {0}")]
pub struct NotWasm(#[from] wasmparser::BinaryReaderError);

/// Reads a module's declarations.
pub fn inspect(bytes: &[u8]) -> Result<Report, NotWasm> {
    let mut report = Report {
        size: bytes.len(),
        ..Report::default()
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if let TypeRef::Func(_) = import.ty {
                        report.imports.push(Import {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            provided: crate::hostcalls::provides(import.module, import.name),
                        });
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    record_export(&mut report, export.name, export.kind);
                }
            }
            Payload::CustomSection(section) if section.name() == "producers" => {
                if let wasmparser::KnownCustom::Producers(reader) = section.as_known() {
                    for field in reader.into_iter().flatten() {
                        for value in field.values.into_iter().flatten() {
                            report
                                .producers
                                .push(format!("{}: {} {}", field.name, value.name, value.version));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    report
        .imports
        .sort_by(|a, b| (&a.module, &a.name).cmp(&(&b.module, &b.name)));
    report.imports.dedup();
    Ok(report)
}

fn record_export(report: &mut Report, name: &str, kind: ExternalKind) {
    if let Some(version) = AbiVersion::from_marker(name) {
        report.abi = report.abi.max(Some(version));
    } else if name.starts_with("proxy_abi_version") {
        report.unknown_markers.push(name.to_string());
    } else if kind == ExternalKind::Func
        && (name.starts_with("proxy_on_")
            || matches!(name, "_initialize" | "_start" | "main" | "malloc"))
    {
        report.callbacks.push(name.to_string());
    }
}
