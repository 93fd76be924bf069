//! Why an export fails: [`ExportError`], one line that says what to change.

/// Why a configuration cannot be exported; the message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A plugin's wasm cannot be read.
    #[error("cannot read the wasm of plugin {plugin} ({path}): {source}")]
    ReadWasm {
        /// The plugin.
        plugin: String,
        /// Its file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A plugin's wasm does not parse.
    #[error("the wasm of plugin {plugin} ({path}) is not a valid module: {reason}")]
    BadWasm {
        /// The plugin.
        plugin: String,
        /// Its file.
        path: std::path::PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// Something the target has no form for, or cannot take as it is.
    #[error("{0}")]
    NoForm(String),
}
