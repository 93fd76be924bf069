//! [`HttpResponse`]: the answer to an HTTP callout or a route call.

use wasmgate_abi::{BufferType, MapType};

use crate::error::{Error, Result};
use crate::raw;

/// A callout's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status (502 when the reply had none, 500 when it was not a number).
    pub status: u16,
    /// The headers, in order, including `:status`. Non-UTF-8 bytes become U+FFFD.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    pub(crate) fn from_host(num_headers: usize, body_size: usize) -> Result<Self> {
        if num_headers == 0 {
            return Err(Error::Http(
                "no response (the call failed, was reset or timed out)".into(),
            ));
        }
        let headers: Vec<(String, String)> = raw::get_map(MapType::HttpCallResponseHeaders)?
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        let body = if body_size > 0 {
            raw::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)?.unwrap_or_default()
        } else {
            Vec::new()
        };
        let status = match headers.iter().find(|(k, _)| k == ":status") {
            None => 502,
            Some((_, v)) => v.trim().parse().unwrap_or(500),
        };
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
