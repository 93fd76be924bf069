//! The HTTP client: requests to a [`Cluster`], answered through a callback or awaited.
//!
//! ```no_run
//! # use wasmgate_sdk::prelude::*;
//! # fn handler(ctx: &HttpContext) -> Result<HeaderAction> {
//! let client = HttpClient::new(K8sCluster::new("auth", "default", 8080));
//! client
//!     .get("/token?user=1")
//!     .header("x-caller", "gateway")
//!     .timeout_ms(1000)
//!     .send(ctx, |ctx, reply| {
//!         let reply = reply?;
//!         ctx.add_request_header("x-token", reply.body)?;
//!         Ok::<_, Error>(())
//!     })?;
//! Ok(HeaderAction::StopIteration)
//! # }
//! ```
//!
//! As wasm-go's `HttpCall`: caller-supplied `:method`, `:path` and `:authority` are dropped;
//! `:authority` is the URL's host when the URL is absolute, else the cluster's host name,
//! else `unknownhost`; `:path` is the URL's path (kept escaped, unlike wasm-go) and query,
//! without the fragment; the default timeout is 500 ms. A reply without `:status` is a 502,
//! one with an unparsable status a 500. A call the host cannot make, or that fails or times
//! out, reaches the callback (or the `await`) as an [`Error::Http`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::rc::Rc;

use crate::cluster::Cluster;
use crate::context::HttpContext;
use crate::error::{Error, Result};
use crate::outcome::IntoOutcome;
use crate::raw;
use crate::response::HttpResponse;
use crate::url::Url;
use crate::waiter::{CalloutFuture, Waiter};

/// The default callout timeout of wasm-go, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 500;

thread_local! {
    static PENDING: RefCell<HashMap<u32, Waiter<HttpResponse>>> = RefCell::new(HashMap::new());
}

fn park(token: u32, waiter: Waiter<HttpResponse>) {
    PENDING.with(|p| p.borrow_mut().insert(token, waiter));
}

/// Sends requests to one cluster. Cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    cluster: Rc<dyn Cluster>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("cluster", &self.cluster.cluster_name())
            .finish()
    }
}

macro_rules! methods {
    ($($name:ident => $method:literal),*) => {$(
        #[doc = concat!("A `", $method, "` request to `url` (a path, or an absolute URL).")]
        pub fn $name(&self, url: &str) -> HttpRequest {
            self.request($method, url)
        }
    )*};
}

impl HttpClient {
    /// A client for a cluster.
    pub fn new(cluster: impl Cluster + 'static) -> Self {
        HttpClient {
            cluster: Rc::new(cluster),
        }
    }

    /// The cluster's Envoy name.
    pub fn cluster_name(&self) -> String {
        self.cluster.cluster_name()
    }

    /// A request with any method.
    pub fn request(&self, method: &str, url: &str) -> HttpRequest {
        HttpRequest {
            cluster: self.cluster.clone(),
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    methods!(get => "GET", head => "HEAD", options => "OPTIONS", post => "POST", put => "PUT",
             patch => "PATCH", delete => "DELETE", connect => "CONNECT", trace => "TRACE");
}

/// A request being built. Send it with [`send`](Self::send) (callback) or `.await` it.
#[must_use = "a request does nothing until it is sent or awaited"]
pub struct HttpRequest {
    cluster: Rc<dyn Cluster>,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout_ms: u32,
}

impl HttpRequest {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds headers.
    pub fn headers<K: AsRef<str>, V: AsRef<str>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in headers {
            self.headers
                .push((k.as_ref().to_string(), v.as_ref().to_string()));
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the timeout (default 500 ms).
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The cluster name and headers the call will carry (pseudo-headers last).
    pub fn wire_headers(&self) -> (String, Vec<(String, String)>) {
        let url = Url::parse(&self.url);
        let authority = match url.host {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => {
                let h = self.cluster.host_name();
                if h.is_empty() {
                    "unknownhost".to_string()
                } else {
                    h
                }
            }
        };
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| {
                !(k.eq_ignore_ascii_case(":method")
                    || k.eq_ignore_ascii_case(":path")
                    || k.eq_ignore_ascii_case(":authority"))
            })
            .cloned()
            .collect();
        headers.push((":method".into(), self.method.clone()));
        headers.push((":path".into(), url.path_and_query()));
        headers.push((":authority".into(), authority));
        (self.cluster.cluster_name(), headers)
    }

    fn dispatch(&self) -> Result<u32> {
        let (cluster, headers) = self.wire_headers();
        raw::http_call(&cluster, &headers, &self.body, self.timeout_ms)
            .map_err(|e| Error::Http(format!("{} {} to {cluster}: {e}", self.method, self.url)))
    }

    /// Sends the request for `ctx`; `callback` runs with the answer (or the error). The
    /// phase that sent it stops until the callback has run, then the request resumes
    /// unless the callback replied locally or resumed it. A callback returning `Err` fails
    /// the request with 500. An error is also returned here when the host refuses the call
    /// (the callback is not run then).
    pub fn send<R: IntoOutcome<()>>(
        self,
        ctx: &HttpContext,
        callback: impl FnOnce(&HttpContext, Result<HttpResponse>) -> R + 'static,
    ) -> Result<u32> {
        ctx.enter()?;
        let token = self.dispatch()?;
        park(token, Waiter::for_request(ctx, callback));
        Ok(token)
    }

    /// Sends the request on behalf of the plugin, not of a request (no pause, no resume).
    pub fn send_detached(
        self,
        callback: impl FnOnce(Result<HttpResponse>) + 'static,
    ) -> Result<u32> {
        let token = self.dispatch()?;
        park(token, Waiter::for_plugin(callback));
        Ok(token)
    }
}

impl IntoFuture for HttpRequest {
    type Output = Result<HttpResponse>;
    type IntoFuture = HttpFuture;

    /// Sends the request now; the future resolves with the answer.
    fn into_future(self) -> HttpFuture {
        CalloutFuture::new(self.dispatch(), park)
    }
}

/// The answer to an awaited [`HttpRequest`].
pub type HttpFuture = CalloutFuture<HttpResponse>;

/// `proxy_on_http_call_response`: routes the answer to its callback or future.
pub(crate) fn on_response(token: u32, num_headers: usize, body_size: usize) {
    let Some(waiter) = PENDING.with(|p| p.borrow_mut().remove(&token)) else {
        return;
    };
    // The response buffers are readable only now, in the root context.
    let reply = HttpResponse::from_host(num_headers, body_size);
    waiter.deliver(reply, "http callback");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{DnsCluster, StaticIpCluster, TargetCluster};

    #[test]
    fn wire_headers_put_pseudo_headers_last() {
        let client = HttpClient::new(DnsCluster::new("auth", "auth.example.com", 80));
        let req = client
            .post("/login?u=1")
            .header(":path", "/evil")
            .header("x-a", "1");
        let (cluster, headers) = req.wire_headers();
        assert_eq!(cluster, "outbound|80||auth.dns");
        assert_eq!(
            headers,
            vec![
                ("x-a".to_string(), "1".to_string()),
                (":method".to_string(), "POST".to_string()),
                (":path".to_string(), "/login?u=1".to_string()),
                (":authority".to_string(), "auth.example.com".to_string()),
            ]
        );
        let (_, headers) = HttpClient::new(StaticIpCluster::new("s", 80))
            .get("http://other.host/x")
            .wire_headers();
        assert_eq!(headers[2].1, "other.host");
        let (_, headers) = HttpClient::new(TargetCluster::new("c", ""))
            .get("/x")
            .wire_headers();
        assert_eq!(headers[2].1, "unknownhost");
    }
}
