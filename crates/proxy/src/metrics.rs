//! The gateway's Prometheus metrics: requests by route and status code, request latency by
//! route, and the metrics plugins define (each under its own name, with characters outside
//! `[A-Za-z0-9_:]` replaced by `_`). Rendered as Prometheus text at the admin `/metrics`.
//! Workers count through a [`Recorder`] each.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use wasmgate_host::abi::MetricType;
use wasmgate_host::Shared;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The gateway's own metrics, shared by every worker.
pub struct GatewayMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "wasmgate_requests",
            "Requests served, by route and status code",
            requests.clone(),
        );
        registry.register(
            "wasmgate_request_duration_seconds",
            "Time from request to response, by route",
            latency.clone(),
        );
        GatewayMetrics {
            registry,
            requests,
            latency,
        }
    }
}

impl GatewayMetrics {
    /// The request counter of `route` and status `code`.
    fn requests(&self, route: &str, code: u16) -> Counter {
        let labels = RequestLabels {
            route: route.to_string(),
            code: code.to_string(),
        };
        self.requests.get_or_create(&labels).clone()
    }

    /// The latency histogram of `route`.
    fn latency(&self, route: &str) -> Histogram {
        let labels = RouteLabels {
            route: route.to_string(),
        };
        self.latency.get_or_create(&labels).clone()
    }

    /// Prometheus text: the gateway's metrics, then the plugins'.
    pub fn render(&self, shared: &Shared) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        for metric in shared.metrics() {
            let name = sanitize(&metric.name);
            match metric.kind {
                MetricType::Counter => {
                    out += &format!("# TYPE {name} counter\n{name} {}\n", metric.value)
                }
                MetricType::Gauge => {
                    out += &format!("# TYPE {name} gauge\n{name} {}\n", metric.value)
                }
                MetricType::Histogram => {
                    out += &format!(
                        "# TYPE {name} summary\n{name}_sum {}\n{name}_count {}\n",
                        metric.value, metric.count
                    )
                }
            }
        }
        out += "# EOF\n";
        out
    }
}

/// One worker's hand on the gateway's metrics: the counter and histogram of each route and
/// status it has seen are kept, so that counting a request takes no labels built, no
/// allocation and no lock shared with the other workers.
pub(crate) struct Recorder {
    metrics: Arc<GatewayMetrics>,
    /// Requests no route matched first, then by the route's place in the configuration (a
    /// worker serves one generation's routes).
    routes: RefCell<Vec<Option<RouteMetrics>>>,
}

struct RouteMetrics {
    latency: Histogram,
    /// By status code; a route sees few.
    requests: Vec<(u16, Counter)>,
}

impl Recorder {
    pub(crate) fn new(metrics: Arc<GatewayMetrics>) -> Recorder {
        Recorder {
            metrics,
            routes: RefCell::default(),
        }
    }

    /// Counts one request of `route` (its place in the configuration and its name; `None`:
    /// no route matched).
    pub(crate) fn record(&self, route: Option<(usize, &str)>, status: u16, elapsed: Duration) {
        let (place, route) = route.map_or((0, ""), |(index, name)| (index + 1, name));
        let mut routes = self.routes.borrow_mut();
        if place >= routes.len() {
            routes.resize_with(place + 1, || None);
        }
        let metrics = routes[place].get_or_insert_with(|| RouteMetrics {
            latency: self.metrics.latency(route),
            requests: Vec::new(),
        });
        metrics.latency.observe(elapsed.as_secs_f64());
        match metrics.requests.iter().find(|(code, _)| *code == status) {
            Some((_, counter)) => {
                counter.inc();
            }
            None => {
                let counter = self.metrics.requests(route, status);
                counter.inc();
                metrics.requests.push((status, counter));
            }
        }
    }
}

/// A metric name with characters outside `[A-Za-z0-9_:]` replaced by `_` (and a leading
/// digit prefixed).
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            sanitize("route.r1.upstream.c-1.metric.x"),
            "route_r1_upstream_c_1_metric_x"
        );
        assert_eq!(sanitize("9lives"), "_9lives");
        assert_eq!(sanitize("ok_name:x"), "ok_name:x");
    }

    #[test]
    fn renders_gateway_and_plugin_metrics() {
        let metrics = Arc::new(GatewayMetrics::default());
        let (one, two) = (
            Recorder::new(metrics.clone()),
            Recorder::new(metrics.clone()),
        );
        one.record(Some((0, "api")), 200, Duration::from_millis(3));
        two.record(Some((0, "api")), 200, Duration::from_millis(5));
        one.record(Some((0, "api")), 404, Duration::from_millis(5));
        one.record(None, 404, Duration::from_millis(1));
        let shared = Shared::default();
        let id = shared.define_metric(MetricType::Counter, "plugin.hits");
        shared.increment_metric(id, 7);
        let text = metrics.render(&shared);
        assert!(
            text.contains(r#"wasmgate_requests_total{route="api",code="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wasmgate_requests_total{route="api",code="404"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wasmgate_request_duration_seconds_count{route="api"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"wasmgate_requests_total{route="",code="404"} 1"#),
            "{text}"
        );
        assert!(text.contains("plugin_hits 7"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
