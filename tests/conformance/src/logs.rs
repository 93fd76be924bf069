//! The plugins' log lines on both sides, to compare them per request.
//!
//! - Envoy runs with `-l warn --component-log-level wasm:info` and `--log-format %l|%n|%v`;
//!   a plugin's line is `info|wasm|wasm log <plugin> <root id> <vm id>: <message>`.
//! - wasmgate's plugins log through `wasmgate_host::TracingLogSink` (the gateway sets it; it
//!   has no log sink of its own to configure): tracing events with target `plugin`. The
//!   suite installs a process-wide tracing subscriber that records them ([`capture`]).
//!
//! Both are masked with [`crate::ignore::mask_log_line`] and reduced to `<level> <message>` with the level one of `trace`, `debug`, `info`,
//! `warn`, `error` (Envoy's `warning` and `critical` mapped to `warn` and `error`, as
//! wasmgate's tracing has no `critical`).

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One plugin log line: `<level> <message>`.
pub type Line = String;

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());

struct Capture;

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "plugin" {
            return;
        }
        let mut message = Message::default();
        event.record(&mut message);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        lock().push(crate::ignore::mask_log_line(&format!(
            "{level} {}",
            message.0
        )));
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Line>> {
    LINES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Installs the recording subscriber (once per process).
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

/// The wasmgate plugin lines recorded since the last call (and forgets them).
pub fn take_wasmgate() -> Vec<Line> {
    std::mem::take(&mut *lock())
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
