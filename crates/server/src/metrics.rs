//! [`Metrics`]: counters, a gauge and a histogram, exposed at `GET /metrics` in the
//! OpenMetrics text format by the `prometheus-client` crate.
//!
//! Labels are route templates, methods, statuses and reasons: never ids, paths or anything
//! a patient could be recognised by. Every label value comes from a bounded set (route
//! templates, standard methods or `other`, status codes, fixed reason names), so a client
//! cannot grow the exposition.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the request latency histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The server's metrics; shared through `AppState`. The metric handles are cheap clones
/// of what the registry holds, so recording never touches the registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    connections_open: Gauge,
    connections_total: Counter,
    frames_received: Counter,
    frames_sent: Counter,
    commits: Counter,
    feed_items: Counter,
    refusals: Family<ReasonLabel, Counter>,
    logins: Family<OutcomeLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("redfolder");
        let connections_open = Gauge::default();
        let connections_total = Counter::default();
        let frames_received = Counter::default();
        let frames_sent = Counter::default();
        let commits = Counter::default();
        let feed_items = Counter::default();
        let refusals = Family::<ReasonLabel, Counter>::default();
        let logins = Family::<OutcomeLabel, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "sync_connections",
            "Open sync WebSocket connections",
            connections_open.clone(),
        );
        // A counter's exposition name gains `_total`.
        registry.register(
            "sync_connections",
            "Sync WebSocket connections accepted",
            connections_total.clone(),
        );
        registry.register(
            "sync_frames_received",
            "Sync frames received from devices",
            frames_received.clone(),
        );
        registry.register(
            "sync_frames_sent",
            "Sync frames sent to devices",
            frames_sent.clone(),
        );
        registry.register("commits", "Plan changes committed", commits.clone());
        registry.register(
            "feed_items_served",
            "Emergency feed items delivered",
            feed_items.clone(),
        );
        registry.register(
            "refusals",
            "Changes refused, by the rule that refused them",
            refusals.clone(),
        );
        registry.register("logins", "Sign-in attempts, by outcome", logins.clone());
        registry.register(
            "http_requests",
            "HTTP requests, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency, by route template",
            latency.clone(),
        );
        Metrics {
            registry,
            connections_open,
            connections_total,
            frames_received,
            frames_sent,
            commits,
            feed_items,
            refusals,
            logins,
            requests,
            latency,
        }
    }
}

/// The label for an HTTP method: the standard ones by name, anything else as `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_open.inc();
        self.connections_total.inc();
    }

    pub fn connection_closed(&self) {
        self.connections_open.dec();
    }

    pub fn frame_received(&self) {
        self.frames_received.inc();
    }

    pub fn frames_sent(&self, n: usize) {
        self.frames_sent.inc_by(n as u64);
    }

    pub fn commit(&self) {
        self.commits.inc();
    }

    pub fn feed_items(&self, n: usize) {
        self.feed_items.inc_by(n as u64);
    }

    /// A change refused: the name of the rule that refused it (a fixed set).
    pub fn refusal(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A sign-in attempt's outcome: `ok`, `failed` or `throttled`.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabel { outcome }).inc();
    }

    /// One HTTP request. `route` is a route template or `static`, so it is bounded;
    /// a method outside the standard ones is counted as `other`, so a client inventing
    /// methods cannot grow the label set without bound.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition of everything ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_openmetrics_text() {
        let m = Metrics::default();
        m.connection_opened();
        m.commit();
        m.refusal("write_rule");
        m.request("/healthz", "GET", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("redfolder_sync_connections 1\n"), "{text}");
        assert!(
            text.contains("redfolder_sync_connections_total 1\n"),
            "{text}"
        );
        assert!(text.contains("redfolder_commits_total 1\n"), "{text}");
        assert!(
            text.contains("redfolder_refusals_total{reason=\"write_rule\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "redfolder_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n"
            ),
            "{text}"
        );
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("redfolder_http_request_duration_seconds_bucket{")
                        && l.contains("route=\"/healthz\"")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .unwrap_or_else(|| panic!("no bucket le={le} in:\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(bucket("0.001"), "0");
        assert_eq!(bucket("0.005"), "1");
        assert_eq!(bucket("+Inf"), "1");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn invented_methods_share_one_label() {
        let m = Metrics::default();
        for i in 0..100 {
            m.request("static", &format!("X-METHOD-{i}"), 405, Duration::ZERO);
        }
        m.request("static", "DELETE", 405, Duration::ZERO);
        let text = m.render();
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("redfolder_http_requests_total{"))
            .collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                "redfolder_http_requests_total{route=\"static\",method=\"DELETE\",status=\"405\"} 1",
                "redfolder_http_requests_total{route=\"static\",method=\"other\",status=\"405\"} 100",
            ]
        );
    }
}
