//! Where requests go: the cluster table and endpoint choice, the HTTP client (plain or TLS),
//! one request's exchange with its upstream, and Envoy's words for a failed one.
//!
//! - `clusters`: [`Clusters`] and [`Endpoint`].
//! - `client`: one worker's pooled clients (HTTP/1.1, and HTTP/2 for `protocol: http2`).
//! - `connect`: a new connection to an endpoint (TCP, TLS), for either protocol.
//! - `http1`: the HTTP/1.1 connections of one worker, used again request after request.
//! - `tls`: the roots trusted for TLS upstreams and callouts.
//! - `request`: a request's head, body and answer.
//! - `reset`: reset reasons and the 503 body Envoy's router answers.

pub(crate) mod client;
pub(crate) mod clusters;
pub(crate) mod connect;
pub(crate) mod http1;
pub(crate) mod request;
pub(crate) mod reset;
pub(crate) mod tls;

pub use clusters::{Clusters, Endpoint};
