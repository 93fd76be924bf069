//! The edge: where clients meet the gateway. Listening sockets, client connections, and what
//! the gateway does to a request before the plugins see it. (TLS listeners and HTTP/2
//! belong here.)
//!
//! - `listener`: binding and accepting.
//! - `connection`: the facts of a client connection plugins read.
//! - `serve`: one connection, its requests handed to the chain.
//! - `arrival`: a request's head made ready for the plugins (forwarded headers, request id).

pub(crate) mod arrival;
pub(crate) mod connection;
pub(crate) mod listener;
pub(crate) mod serve;
