//! The edge: where clients meet the gateway. Listening sockets, client connections (plain
//! or TLS, HTTP/1.1 or HTTP/2), the limits they are held to, and what the gateway does to a
//! request before the plugins see it.
//!
//! - `listener`: binding and accepting.
//! - `open`: a worker's open connections (the per-worker limit, the drain on shutdown).
//! - `certificates`: a TLS listener's certificates, chosen by SNI, and their fields.
//! - `tls`: a TLS listener's rustls configuration and what a handshake tells plugins.
//! - `activity`: the idle timeout's clock.
//! - `connection`: the facts of a client connection plugins read.
//! - `framing`: HTTP/1.1 request framing as Envoy reads it (its refusals, obs-fold).
//! - `chunks`: a chunked body's framing, for `framing`.
//! - `checked`: a client stream whose request heads pass `framing` before hyper reads them.
//! - `serve`: one connection, its requests handed to the chain.
//! - `arrival`: a request's head made ready for the plugins (forwarded headers, request id).
//! - `upgrade`: upgrade requests (HTTP/1.1 `Upgrade`, HTTP/2 extended CONNECT) and their
//!   answers as the client gets them.

pub(crate) mod activity;
pub(crate) mod arrival;
pub(crate) mod certificates;
pub(crate) mod checked;
pub(crate) mod chunks;
pub(crate) mod connection;
pub(crate) mod framing;
pub(crate) mod listener;
pub(crate) mod open;
pub(crate) mod serve;
pub(crate) mod tls;
pub(crate) mod upgrade;
