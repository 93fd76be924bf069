//! [`Error`]: what can go wrong in a plugin, from a host call to a failed callout.

use std::fmt;

use wasmgate_abi::Status;

/// The SDK's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from the host, a callout, the configuration or the plugin's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A host call returned a status other than OK.
    Host {
        /// The host function (`proxy_add_header_map_value`, …).
        call: &'static str,
        /// The status it returned.
        status: Status,
    },
    /// A host call returned a status number that the ABI does not define.
    UnknownStatus {
        /// The host function.
        call: &'static str,
        /// The raw number.
        raw: u32,
    },
    /// Data from the host was malformed (a header map, a property, a Redis reply).
    Decode(String),
    /// The plugin configuration is invalid.
    Config(String),
    /// An HTTP callout failed: the host could not send it, it timed out or was reset.
    Http(String),
    /// A Redis command failed: the client is not ready, the host could not connect, or the
    /// reply could not be read.
    Redis(String),
    /// The Redis server answered a command with an error reply (`-ERR …`).
    RedisReply(String),
    /// A gRPC call or stream ended with a status other than OK: the server's, or the one
    /// the host gives a failure (14 UNAVAILABLE when the service cannot be reached, …).
    Grpc {
        /// The gRPC status code (`wasmgate_abi::GrpcCode` names them).
        code: u32,
        /// The status message (`grpc-message`, as it came).
        message: String,
    },
    /// Anything else, with its message.
    Other(String),
}

impl Error {
    /// An error with a free-form message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::Other(message.to_string())
    }

    /// The status of a failed host call, if this error is one.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Host { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The gRPC status code, if this error is a gRPC call's failure.
    pub fn grpc_code(&self) -> Option<u32> {
        match self {
            Error::Grpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether a host call answered NOT_FOUND.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(Status::NotFound)
    }

    pub(crate) fn from_status(call: &'static str, raw: u32) -> Self {
        match Status::from_raw(raw) {
            Some(status) => Error::Host { call, status },
            None => Error::UnknownStatus { call, raw },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Host { call, status } => {
                write!(f, "{call} failed: {status:?}")?;
                if *status == Status::BadArgument && call.contains("header_map") {
                    // The usual cause: the map's time is over (Envoy's lifetimes).
                    f.write_str(
                        " (a header map can be changed only in its headers phase, or while \
                         that phase holds the stream; on_log can read it)",
                    )?;
                }
                Ok(())
            }
            Error::UnknownStatus { call, raw } => write!(f, "{call} failed: status {raw}"),
            Error::Decode(m) => write!(f, "malformed data from the host: {m}"),
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::Http(m) => write!(f, "http call failed: {m}"),
            Error::Redis(m) => write!(f, "redis call failed: {m}"),
            Error::RedisReply(m) => write!(f, "redis error reply: {m}"),
            Error::Grpc { code, message } => {
                let name = wasmgate_abi::GrpcCode::from_raw(*code)
                    .map(|c| format!(" ({c:?})"))
                    .unwrap_or_default();
                write!(f, "grpc call failed: status {code}{name}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Other(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error::Other(message.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Decode(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_errors() {
        let e = Error::from_status("proxy_get_property", 1);
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "proxy_get_property failed: NotFound");
        let e = Error::from_status("proxy_log", 99);
        assert_eq!(e.status(), None);
        assert_eq!(e.to_string(), "proxy_log failed: status 99");
    }

    #[test]
    fn a_refused_header_map_call_says_why() {
        let e = Error::from_status("proxy_add_header_map_value", 2);
        assert!(
            e.to_string()
                .starts_with("proxy_add_header_map_value failed: BadArgument (a header map"),
            "{e}"
        );
        let e = Error::from_status("proxy_http_call", 2);
        assert_eq!(e.to_string(), "proxy_http_call failed: BadArgument");
    }
}
