//! The plugins' log lines on both sides, to compare them per request.
//!
//! - Envoy runs with `-l warn --component-log-level wasm:info` and `--log-format %l|%n|%v`;
//!   a plugin's line is `info|wasm|wasm log <plugin> <root id> <vm id>: <message>`.
//! - wasmgate's go to a [`Recorder`], the gateway's `plugin_logs` sink.
//!
//! Both are masked with [`crate::ignore::mask_log_line`] and reduced to `<level> <message>`
//! with the level one of `trace`, `debug`, `info`, `warn`, `error` (Envoy's `warning` and
//! `critical` mapped to `warn` and `error`, as wasmgate's default `tracing` sink does).

use std::sync::Mutex;

use wasmgate_abi::LogLevel;
use wasmgate_host::{LogRecord, LogSink};

/// One plugin log line: `<level> <message>`.
pub type Line = String;

/// Records the plugin lines of one wasmgate gateway.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<Line>>);

impl LogSink for Recorder {
    fn log(&self, record: &LogRecord) {
        let level = match record.level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        };
        let line = crate::ignore::mask_log_line(&format!("{level} {}", record.message));
        self.lines().push(line);
    }
}

impl Recorder {
    /// The lines recorded since the last call (and forgets them).
    pub fn take(&self) -> Vec<Line> {
        std::mem::take(&mut *self.lines())
    }

    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<Line>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The plugin lines in Envoy's log text (`--log-format %l|%n|%v`). A message with newlines
/// spans several lines of text; the lines after the first carry no `level|logger|` prefix.
pub fn envoy_lines(log: &str) -> Vec<Line> {
    records(log)
        .into_iter()
        .filter_map(|(level, logger, text)| {
            if logger != "wasm" {
                return None;
            }
            let rest = text.strip_prefix("wasm log")?;
            let (_prefix, message) = rest.split_once(": ")?;
            let level = match level {
                "warning" => "warn",
                "critical" => "error",
                other => other,
            };
            Some(crate::ignore::mask_log_line(&format!("{level} {message}")))
        })
        .collect()
}

/// Envoy's log records as (level, logger, message), continuation lines joined back.
fn records(log: &str) -> Vec<(&str, &str, String)> {
    const LEVELS: &[&str] = &["trace", "debug", "info", "warning", "error", "critical"];
    let mut records: Vec<(&str, &str, String)> = Vec::new();
    for line in log.lines() {
        let mut parts = line.splitn(3, '|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(level), Some(logger), Some(text)) if LEVELS.contains(&level) => {
                records.push((level, logger, text.to_string()));
            }
            _ => {
                if let Some((_, _, text)) = records.last_mut() {
                    text.push('\n');
                    text.push_str(line);
                }
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_plugin_lines_are_found() {
        let log = "warning|main|something\ninfo|wasm|wasm log p  : hello: there\n\
                   critical|wasm|wasm log p r v: boom\ninfo|wasm|other";
        assert_eq!(envoy_lines(log), vec!["info hello: there", "error boom"]);
    }

    #[test]
    fn a_message_with_newlines_is_one_line() {
        let log = "error|wasm|wasm log p r v: panicked at src/lib.rs:5:9:\nfault requested\n\
                   info|main|next";
        assert_eq!(
            envoy_lines(log),
            vec!["error panicked at src/lib.rs:5:9:\nfault requested"]
        );
    }
}
