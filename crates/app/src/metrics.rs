//! Operational metrics in the Prometheus text format (version 0.0.4):
//! counters and histograms kept in atomics where the work happens (HTTP
//! requests, log commits, SIP), gauges read when scraped (queues, the
//! outbox). No patient data and no free text in any label: routes are
//! templates, queues and organisations are ids.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A latency histogram.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Microseconds, summed.
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((seconds * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            braces(labels),
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Most distinct label sets one family keeps (routes × status classes is
/// far below this; a bound all the same).
const MAX_SERIES: usize = 2000;

/// What the server counts as it works.
#[derive(Default)]
pub struct Metrics {
    /// HTTP requests by route template, then status class.
    http: Mutex<BTreeMap<String, ByClass>>,
    http_seconds: Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>,
    /// The engine's commits (fsync included).
    pub commit_seconds: Histogram,
    /// SIP calls by how they ended (`answered`, `abandoned`, `failed` ...).
    sip_calls: Mutex<BTreeMap<String, u64>>,
}

/// Requests of one route by status class (1xx … 5xx).
#[derive(Default)]
struct ByClass([u64; 5]);

impl ByClass {
    fn count(&mut self, class: &str) {
        let i = usize::from(class.as_bytes()[0] - b'1').min(4);
        self.0[i] += 1;
    }
}

fn class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A label value with `\`, `"` and new lines escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One HTTP request answered (`route`: the route's template). On the
    /// hot path: a known route costs two lookups by `&str`, no allocation.
    pub fn http_request(&self, route: &str, status: u16, seconds: f64) {
        let class = class(status);
        let h = {
            let mut m = self.http_seconds.lock().unwrap_or_else(|p| p.into_inner());
            match m.get(route) {
                Some(h) => h.clone(),
                None if m.len() < MAX_SERIES => m.entry(route.to_string()).or_default().clone(),
                None => return,
            }
        };
        h.observe(seconds);
        let mut m = self.http.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(route) {
            if m.len() >= MAX_SERIES {
                return;
            }
            m.insert(route.to_string(), ByClass::default());
        }
        if let Some(by) = m.get_mut(route) {
            by.count(class);
        }
    }

    /// A SIP call ended (`how`: a word, never caller data).
    pub fn sip_call(&self, how: &str) {
        let mut m = self.sip_calls.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() < MAX_SERIES || m.contains_key(how) {
            *m.entry(how.to_string()).or_default() += 1;
        }
    }

    /// The counters and histograms, in the text format.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP switchboard_http_requests_total HTTP requests answered, by route template and status class.\n# TYPE switchboard_http_requests_total counter\n");
        for (route, by) in self.http.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for (i, n) in by.0.iter().enumerate().filter(|(_, n)| **n > 0) {
                let _ = writeln!(
                    out,
                    "switchboard_http_requests_total{{route=\"{}\",status=\"{}xx\"}} {n}",
                    esc(route),
                    i + 1
                );
            }
        }
        out.push_str("# HELP switchboard_http_request_duration_seconds Time to answer an HTTP request, by route template.\n# TYPE switchboard_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .http_seconds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.write(
                out,
                "switchboard_http_request_duration_seconds",
                &format!("route=\"{}\"", esc(route)),
            );
        }
        out.push_str("# HELP switchboard_log_commit_duration_seconds Time to commit a batch of inputs to the log (fsync included).\n# TYPE switchboard_log_commit_duration_seconds histogram\n");
        self.commit_seconds
            .write(out, "switchboard_log_commit_duration_seconds", "");
        out.push_str("# HELP switchboard_sip_calls_total SIP calls ended, by how.\n# TYPE switchboard_sip_calls_total counter\n");
        for (how, n) in self
            .sip_calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "switchboard_sip_calls_total{{how=\"{}\"}} {n}",
                esc(how)
            );
        }
    }
}

/// A gauge family's header.
pub fn gauge(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// One gauge sample.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, String)], value: f64) {
    let l: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
        .collect();
    let _ = writeln!(out, "{name}{{{}}} {value}", l.join(","));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_counts_and_buckets() {
        let m = Metrics::default();
        m.http_request("/api/v1/kpis", 200, 0.003);
        m.http_request("/api/v1/kpis", 200, 0.2);
        m.http_request("/api/v1/kpis", 404, 0.001);
        m.commit_seconds.observe(0.004);
        m.sip_call("answered");
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "switchboard_http_requests_total{route=\"/api/v1/kpis\",status=\"2xx\"} 2",
            "switchboard_http_requests_total{route=\"/api/v1/kpis\",status=\"4xx\"} 1",
            "switchboard_http_request_duration_seconds_bucket{route=\"/api/v1/kpis\",le=\"0.005\"} 2",
            "switchboard_http_request_duration_seconds_bucket{route=\"/api/v1/kpis\",le=\"+Inf\"} 3",
            "switchboard_http_request_duration_seconds_count{route=\"/api/v1/kpis\"} 3",
            "switchboard_log_commit_duration_seconds_bucket{le=\"0.005\"} 1",
            "switchboard_log_commit_duration_seconds_count 1",
            "switchboard_sip_calls_total{how=\"answered\"} 1",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        let mut g = String::new();
        gauge(&mut g, "switchboard_queue_waiting", "Contacts waiting.");
        sample(
            &mut g,
            "switchboard_queue_waiting",
            &[("queue", "2".into()), ("name", "A \"quoted\" name".into())],
            3.0,
        );
        assert!(
            g.ends_with(
                "switchboard_queue_waiting{queue=\"2\",name=\"A \\\"quoted\\\" name\"} 3\n"
            ),
            "{g}"
        );
    }
}
