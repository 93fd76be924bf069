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

impl Locator<'_> {
    /// An error at the `n`-th (from 0) line mentioning `needle` after the lines mentioning
    /// each of `anchors` in turn (a route's `name: r`, then its `headers:`, say); where an
    /// anchor or the needle is not found, at the last line found.
    pub(crate) fn error_within(
        &self,
        anchors: &[&str],
        needle: &str,
        n: usize,
        reason: &str,
    ) -> ConfigError {
        let lines: Vec<&str> = self.text.lines().collect();
        let mut line = None;
        let mut from = 0;
        for anchor in anchors {
            match (from..lines.len()).find(|&i| lines[i].contains(anchor)) {
                Some(i) => {
                    line = Some(i);
                    from = i + 1;
                }
                None => break,
            }
        }
        if let Some(i) = (from..lines.len())
            .filter(|&i| lines[i].contains(needle))
            .nth(n)
        {
            line = Some(i);
        }
        ConfigError {
            file: self.file.to_path_buf(),
            line: line.map(|i| i + 1),
            reason: reason.to_string(),
        }
    }
}
