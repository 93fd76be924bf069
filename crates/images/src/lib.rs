//! Plugin images and URLs, the way the fleet ships plugins:
//!
//! - `url`: what a plugin's `url`/`wasm`/`--plugin` names: a file, an `oci://` image (tag
//!   or `@sha256:` digest) or an `http(s)://` URL.
//! - `credentials`: registry credentials from docker config files (`DOCKER_CONFIG`,
//!   `~/.docker/config.json`) or a docker config a plugin names (the local stand-in for
//!   Kubernetes' `imagePullSecret`).
//! - `form`: the two image forms in use — OCI artifacts whose layer is the wasm (Istio,
//!   Envoy Gateway) and images whose layer tarball holds `plugin.wasm` (Higress) — read
//!   and written.
//! - `registry`: the OCI distribution API (token flow, basic auth, TLS with public roots
//!   or a CA file, plain HTTP for loopback registries and those the config names), through
//!   the ORAS project's `oci-client`.
//! - `blocking`: async work run from synchronous code, anywhere.
//! - `settings`: how this machine fetches (cache dir, CA file, insecure registries).
//! - `cache`: the content-addressed cache under wasmgate's cache dir (works offline once
//!   filled).
//! - [`fetch`]: [`Fetcher`]: a plugin's source to a local `.wasm`, with `sha256` checked and
//!   the pull policy applied; blocking, callable from anywhere.
//! - [`push`]: `wasmgate push`: a `.wasm` as an image Higress, Istio and Envoy Gateway pull.
//! - `error`: [`ImageError`], one line naming the image and what went wrong.

mod blocking;
mod cache;
mod credentials;
mod error;
pub mod fetch;
mod form;
mod http_url;
pub mod push;
mod registry;
mod settings;
mod url;

pub use error::ImageError;
pub use fetch::{FetchSettings, Fetcher, PluginSource, PullPolicy};
pub use push::Pushed;
pub use url::PluginUrl;
