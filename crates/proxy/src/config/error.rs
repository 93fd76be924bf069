//! Where a configuration error is: [`ConfigError`] (file, line, what to fix) and the
//! [`Locator`] that finds the line of a value found wrong after parsing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration error: the file, the line when known, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {reason}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and how to fix it.
    pub reason: String,
}

/// Finds lines for errors found after parsing.
pub(crate) struct Locator<'a> {
    pub(crate) file: &'a Path,
    pub(crate) text: &'a str,
}

impl Locator<'_> {
    pub(crate) fn yaml(&self, e: serde_yaml::Error) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: e.location().map(|l| l.line()),
            reason: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// An error at the first line that mentions `needle`.
    pub(crate) fn error(&self, needle: &str, reason: &str) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: self
                .text
                .lines()
                .position(|l| l.contains(needle))
                .map(|i| i + 1),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn address(&self, field: &str, text: &str) -> Result<SocketAddr, ConfigError> {
        text.parse().map_err(|_| {
            self.error(
                &format!("{field}:"),
                &format!("{field} {text:?} is not IP:PORT (e.g. 127.0.0.1:10000)"),
            )
        })
    }
}
