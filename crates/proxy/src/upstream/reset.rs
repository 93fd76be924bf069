//! How an upstream exchange failed, in Envoy's words: the reset reason, the status (503, or
//! 502 for an answer that is not HTTP) and body its router answers, and an error's causes on
//! one line for the log.

/// Envoy's reset reason for an upstream that closed the connection before its answer.
pub(crate) const TERMINATED: &str = "connection termination";

/// Envoy's reset reason for an upstream that could not be connected to (refused, TLS
/// refused, an HTTP/2 connection not set up).
pub(crate) const CONNECT_FAILURE: &str = "remote connection failure";

/// Envoy's reset reason for an upstream whose answer is not HTTP.
pub(crate) const PROTOCOL_ERROR: &str = "protocol error";

/// An upstream exchange that failed before the response head: what happened, and Envoy's
/// reset reason.
#[derive(Debug)]
pub(crate) struct Reset {
    pub(crate) message: String,
    pub(crate) reason: &'static str,
}

/// The status Envoy's router answers for a reset before the response head: 502 for a
/// protocol error, 503 for the rest.
pub(crate) fn reset_status(reason: &str) -> http::StatusCode {
    if reason == PROTOCOL_ERROR {
        http::StatusCode::BAD_GATEWAY
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    }
}

/// An error and its causes on one line (hyper's own text, `client error (Connect)`, does
/// not say that the connection was refused).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The body of the 503 (or 502) Envoy's router answers for an upstream that failed before its
/// response head.
pub(crate) fn reset_body(reason: &str) -> String {
    format!("upstream connect error or disconnect/reset before headers. reset reason: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_says_its_causes() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            with_causes(&Outer(refused)),
            "client error (Connect): refused"
        );
    }
}
