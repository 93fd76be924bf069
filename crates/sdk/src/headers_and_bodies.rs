//! The request's and response's headers, trailers and bodies, as [`HttpContext`] methods.
//!
//! Header getters are text (non-UTF-8 bytes become U+FFFD) or raw bytes (`*_bytes`); they
//! give `None` or an empty list when the host refuses (a map out of its time). Setters
//! return the host's refusal as an error. Body methods act on what the host holds now: the
//! current chunk while streaming, the whole body in a buffered handler.

use wasmgate_abi::{BufferType, MapType};

use crate::context::{lossy, HttpContext};
use crate::error::Result;
use crate::raw;

macro_rules! header_api {
    ($map:expr, $what:literal,
     $get:ident, $get_bytes:ident, $all:ident, $all_bytes:ident, $set_all:ident,
     $add:ident, $replace:ident, $remove:ident) => {
        #[doc = concat!("One ", $what, " header (values of a repeated header are joined with `,` by the host). Non-UTF-8 bytes are replaced with U+FFFD; `None` when absent or when the host refuses.")]
        pub fn $get(&self, name: &str) -> Option<String> {
            self.$get_bytes(name).map(lossy)
        }

        #[doc = concat!("One ", $what, " header as raw bytes.")]
        pub fn $get_bytes(&self, name: &str) -> Option<Vec<u8>> {
            self.enter().ok()?;
            raw::get_map_value($map, name).ok().flatten()
        }

        #[doc = concat!("Every ", $what, " header in order, as text (lossy for non-UTF-8 values).")]
        pub fn $all(&self) -> Vec<(String, String)> {
            self.$all_bytes()
                .into_iter()
                .map(|(k, v)| (lossy(k), lossy(v)))
                .collect()
        }

        #[doc = concat!("Every ", $what, " header in order, as bytes; empty when the host refuses.")]
        pub fn $all_bytes(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
            if self.enter().is_err() {
                return Vec::new();
            }
            raw::get_map($map).unwrap_or_default()
        }

        #[doc = concat!("Replaces all ", $what, " headers.")]
        pub fn $set_all<K: AsRef<[u8]>, V: AsRef<[u8]>>(&self, headers: &[(K, V)]) -> Result<()> {
            self.enter()?;
            raw::set_map($map, headers)
        }

        #[doc = concat!("Adds a ", $what, " header, keeping existing values of the name.")]
        pub fn $add(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            raw::add_map_value($map, name, value.as_ref())
        }

        #[doc = concat!("Sets a ", $what, " header, replacing every existing value of the name.")]
        pub fn $replace(&self, name: &str, value: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            raw::replace_map_value($map, name, value.as_ref())
        }

        #[doc = concat!("Removes every value of a ", $what, " header.")]
        pub fn $remove(&self, name: &str) -> Result<()> {
            self.enter()?;
            raw::remove_map_value($map, name)
        }
    };
}

macro_rules! body_api {
    ($buffer:expr, $what:literal, $get:ident, $replace:ident, $append:ident, $prepend:ident) => {
        #[doc = concat!("The ", $what, " body the host holds now (the current chunk while streaming, the whole body in a buffered handler).")]
        pub fn $get(&self) -> Result<Vec<u8>> {
            self.enter()?;
            Ok(raw::get_buffer($buffer, 0, u32::MAX as usize)?.unwrap_or_default())
        }

        #[doc = concat!("Replaces the ", $what, " body the host holds.")]
        pub fn $replace(&self, body: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            raw::set_buffer($buffer, 0, u32::MAX as usize, body.as_ref())
        }

        #[doc = concat!("Appends to the ", $what, " body.")]
        pub fn $append(&self, data: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            raw::set_buffer($buffer, u32::MAX as usize, 0, data.as_ref())
        }

        #[doc = concat!("Prepends to the ", $what, " body.")]
        pub fn $prepend(&self, data: impl AsRef<[u8]>) -> Result<()> {
            self.enter()?;
            raw::set_buffer($buffer, 0, 0, data.as_ref())
        }
    };
}

impl HttpContext {
    // ----- headers -----

    header_api!(
        MapType::HttpRequestHeaders,
        "request",
        request_header,
        request_header_bytes,
        request_headers,
        request_headers_bytes,
        set_request_headers,
        add_request_header,
        replace_request_header,
        remove_request_header
    );

    header_api!(
        MapType::HttpResponseHeaders,
        "response",
        response_header,
        response_header_bytes,
        response_headers,
        response_headers_bytes,
        set_response_headers,
        add_response_header,
        replace_response_header,
        remove_response_header
    );

    header_api!(
        MapType::HttpRequestTrailers,
        "request trailer",
        request_trailer,
        request_trailer_bytes,
        request_trailers,
        request_trailers_bytes,
        set_request_trailers,
        add_request_trailer,
        replace_request_trailer,
        remove_request_trailer
    );

    header_api!(
        MapType::HttpResponseTrailers,
        "response trailer",
        response_trailer,
        response_trailer_bytes,
        response_trailers,
        response_trailers_bytes,
        set_response_trailers,
        add_response_trailer,
        replace_response_trailer,
        remove_response_trailer
    );

    // ----- bodies -----

    body_api!(
        BufferType::HttpRequestBody,
        "request",
        request_body,
        replace_request_body,
        append_request_body,
        prepend_request_body
    );

    body_api!(
        BufferType::HttpResponseBody,
        "response",
        response_body,
        replace_response_body,
        append_response_body,
        prepend_response_body
    );
}
