//! [`Metrics`]: counters and histograms rendered as Prometheus text at `GET /metrics`.
//!
//! Labels are route templates, methods, statuses and reasons: never ids, paths or anything
//! a patient could be recognised by.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's metrics; shared through `AppState`.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_open: AtomicI64,
    connections_total: AtomicU64,
    frames_received: AtomicU64,
    frames_sent: AtomicU64,
    commits: AtomicU64,
    feed_items: AtomicU64,
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *map.entry(key).or_default() += 1;
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
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn frame_received(&self) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
    }

    pub fn frames_sent(&self, n: usize) {
        self.frames_sent.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn feed_items(&self, n: usize) {
        self.feed_items.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A change refused over sync: `write_rule`, `schema`, `actor` or `author`.
    pub fn refusal(&self, reason: &'static str) {
        bump(&self.refusals, reason);
    }

    /// A sign-in attempt's outcome: `ok`, `failed` or `throttled`.
    pub fn login(&self, outcome: &'static str) {
        bump(&self.logins, outcome);
    }

    /// One HTTP request. `route` is a route template or `static`, so it is bounded;
    /// a method outside the standard ones is counted as `other`, so a client inventing
    /// methods cannot grow the label set without bound.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        bump(
            &self.requests,
            (route.to_owned(), method_label(method).to_owned(), status),
        );
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let h = latency.entry(route.to_owned()).or_default();
        let secs = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut scalar = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        scalar(
            "redfolder_sync_connections",
            "gauge",
            "Open sync WebSocket connections.",
            self.connections_open.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            "redfolder_sync_connections_total",
            "counter",
            "Sync WebSocket connections accepted.",
            self.connections_total.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            "redfolder_sync_frames_received_total",
            "counter",
            "Sync frames received from devices.",
            self.frames_received.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            "redfolder_sync_frames_sent_total",
            "counter",
            "Sync frames sent to devices.",
            self.frames_sent.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            "redfolder_commits_total",
            "counter",
            "Plan changes committed.",
            self.commits.load(Ordering::Relaxed).to_string(),
        );
        scalar(
            "redfolder_feed_items_served_total",
            "counter",
            "Emergency feed items delivered.",
            self.feed_items.load(Ordering::Relaxed).to_string(),
        );
        let lock = |m: &Mutex<BTreeMap<&'static str, u64>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        let _ = writeln!(
            out,
            "# HELP redfolder_refusals_total Changes refused over sync, by reason.\n# TYPE redfolder_refusals_total counter"
        );
        for (reason, n) in lock(&self.refusals) {
            let _ = writeln!(out, "redfolder_refusals_total{{reason=\"{reason}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP redfolder_logins_total Sign-in attempts, by outcome.\n# TYPE redfolder_logins_total counter"
        );
        for (outcome, n) in lock(&self.logins) {
            let _ = writeln!(out, "redfolder_logins_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP redfolder_http_requests_total HTTP requests, by route template, method and status.\n# TYPE redfolder_http_requests_total counter"
        );
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for ((route, method, status), n) in requests {
            let _ = writeln!(
                out,
                "redfolder_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP redfolder_http_request_duration_seconds HTTP request latency, by route template.\n# TYPE redfolder_http_request_duration_seconds histogram"
        );
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (route, h) in latency.iter() {
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "redfolder_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "redfolder_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\nredfolder_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\nredfolder_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.connection_opened();
        m.commit();
        m.refusal("write_rule");
        m.request("/healthz", "GET", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("redfolder_sync_connections 1\n"), "{text}");
        assert!(text.contains("redfolder_commits_total 1\n"), "{text}");
        assert!(text.contains("redfolder_refusals_total{reason=\"write_rule\"} 1\n"));
        assert!(text.contains(
            "redfolder_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1\n"
        ));
        assert!(text.contains(
            "redfolder_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "redfolder_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.001\"} 0\n"
        ));
    }

    #[test]
    fn invented_methods_share_one_label() {
        let m = Metrics::default();
        for i in 0..100 {
            m.request("static", &format!("X-METHOD-{i}"), 405, Duration::ZERO);
        }
        m.request("static", "DELETE", 405, Duration::ZERO);
        let text = m.render();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("redfolder_http_requests_total{"))
            .collect();
        assert_eq!(
            lines,
            [
                "redfolder_http_requests_total{route=\"static\",method=\"DELETE\",status=\"405\"} 1",
                "redfolder_http_requests_total{route=\"static\",method=\"other\",status=\"405\"} 100",
            ]
        );
    }
}
