//! The plugin logger: `[plugin] [plugin id] [request id] message`, as Higress's Go SDK writes
//! it, dropped below the host's log level.
//!
//! The level comes from `proxy_get_log_level`, else from the foreign function
//! `get_log_level` (Higress), else every line is kept. The request id is the current
//! request's `x-request-id` (`nil` outside a request); the plugin id is the configuration's
//! `_plugin_id_` (`nil` without one).
//!
//! Use the macros [`trace!`](macro@crate::trace), [`debug!`](macro@crate::debug), [`info!`](macro@crate::info),
//! [`warn!`](macro@crate::warn), [`error!`](macro@crate::error) and [`critical!`](macro@crate::critical), or
//! [`log`] directly.

use std::fmt;

pub use wasmgate_abi::LogLevel;

use crate::{raw, state};

/// The level below which the host drops lines.
pub fn host_level() -> LogLevel {
    if let Ok(level) = raw::get_log_level() {
        return level;
    }
    match raw::call_foreign_function("get_log_level", &[]) {
        Ok(bytes) if bytes.len() >= 4 => {
            let raw = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            LogLevel::from_raw(raw).unwrap_or(LogLevel::Trace)
        }
        _ => LogLevel::Trace,
    }
}

/// Whether a line at `level` would be written.
pub fn enabled(level: LogLevel) -> bool {
    level >= host_level()
}

/// The prefix of every line: `[plugin] [plugin id|nil] [request id|nil] `.
pub fn prefix() -> String {
    let request_id = state::request_id(state::current());
    format!(
        "[{}] [{}] [{}] ",
        state::plugin_name(),
        state::plugin_id().as_deref().unwrap_or("nil"),
        request_id.as_deref().unwrap_or("nil")
    )
}

/// The prefix, without anything that could fail while a panic is being reported.
pub(crate) fn prefix_for_panic() -> String {
    let request_id = state::current_request_id_for_panic();
    format!(
        "[{}] [{}] [{}] ",
        state::plugin_name(),
        state::plugin_id().as_deref().unwrap_or("nil"),
        request_id.as_deref().unwrap_or("nil")
    )
}

/// Writes one line at `level` if the host's level lets it through. Failures to log are
/// ignored: there is nowhere to report them.
pub fn log(level: LogLevel, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = format!("{}{}", prefix(), args);
    let _ = raw::log(level, &line);
}

/// Logs at trace level, `format!`-style.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Trace, format_args!($($arg)+)) };
}

/// Logs at debug level, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Debug, format_args!($($arg)+)) };
}

/// Logs at info level, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Info, format_args!($($arg)+)) };
}

/// Logs at warn level, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Warn, format_args!($($arg)+)) };
}

/// Logs at error level, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Error, format_args!($($arg)+)) };
}

/// Logs at critical level, `format!`-style.
#[macro_export]
macro_rules! critical {
    ($($arg:tt)+) => { $crate::log::log($crate::log::LogLevel::Critical, format_args!($($arg)+)) };
}
