//! `/metrics` (Prometheus text format), `/healthz` and `/readyz` over a minimal HTTP/1.1
//! responder on tokio, so the operator needs no web framework for three GET routes.
//!
//! `/healthz` answers 200 while the process runs; `/readyz` answers 200 once this replica is
//! either the leader with its controller running or a standby that successfully talks to the
//! Lease API (the operator sets it through [`Metrics::set_ready`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Counters and gauges exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    reconciles: AtomicU64,
    reconcile_errors: AtomicU64,
    reconcile_micros: AtomicU64,
    invalid_specs: AtomicU64,
    leader: AtomicBool,
    ready: AtomicBool,
}

impl Metrics {
    /// Records one finished reconcile and how long it took.
    pub fn reconciled(&self, elapsed: std::time::Duration) {
        self.reconciles.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.reconcile_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Records a failed reconcile.
    pub fn failed(&self) {
        self.reconcile_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a reconcile that found an invalid spec.
    pub fn invalid(&self) {
        self.invalid_specs.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets whether this replica holds the leader Lease.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// Sets what `/readyz` answers.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let seconds = self.reconcile_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        metric(
            "ferrimq_operator_reconciles_total",
            "counter",
            "Finished reconciles.",
            self.reconciles.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "ferrimq_operator_reconcile_errors_total",
            "counter",
            "Failed reconciles.",
            self.reconcile_errors.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "ferrimq_operator_reconcile_seconds_total",
            "counter",
            "Time spent reconciling.",
            format!("{seconds}"),
        );
        metric(
            "ferrimq_operator_invalid_specs_total",
            "counter",
            "Reconciles that found an invalid spec.",
            self.invalid_specs.load(Ordering::Relaxed).to_string(),
        );
        metric(
            "ferrimq_operator_leader",
            "gauge",
            "1 when this replica holds the leader Lease.",
            u8::from(self.leader.load(Ordering::Relaxed)).to_string(),
        );
        out
    }

    /// Status code, content type and body for a GET of `path`.
    pub fn respond(&self, path: &str) -> (u16, &'static str, String) {
        match path {
            "/metrics" => (200, "text/plain; version=0.0.4", self.render()),
            "/healthz" => (200, "text/plain", "ok\n".to_string()),
            "/readyz" if self.ready.load(Ordering::Relaxed) => {
                (200, "text/plain", "ok\n".to_string())
            }
            "/readyz" => (503, "text/plain", "not ready\n".to_string()),
            _ => (404, "text/plain", "not found\n".to_string()),
        }
    }
}

/// Serves the endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let Ok(n) = stream.read(&mut buf).await else {
                return;
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let mut parts = request.split_whitespace();
            let (status, kind, body) = match (parts.next(), parts.next()) {
                (Some("GET"), Some(path)) => metrics.respond(path),
                _ => (405, "text/plain", "method not allowed\n".to_string()),
            };
            let reason = match status {
                200 => "OK",
                404 => "Not Found",
                405 => "Method Not Allowed",
                _ => "Service Unavailable",
            };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_counters_and_leader_gauge() {
        let m = Metrics::default();
        m.reconciled(std::time::Duration::from_millis(1500));
        m.failed();
        m.set_leader(true);
        let text = m.render();
        assert!(text.contains("\nferrimq_operator_reconciles_total 1\n"));
        assert!(text.contains("\nferrimq_operator_reconcile_errors_total 1\n"));
        assert!(text.contains("\nferrimq_operator_reconcile_seconds_total 1.5\n"));
        assert!(text.contains("# TYPE ferrimq_operator_leader gauge\nferrimq_operator_leader 1\n"));
    }

    #[test]
    fn readyz_follows_the_ready_flag() {
        let m = Metrics::default();
        assert_eq!(m.respond("/readyz").0, 503);
        m.set_ready(true);
        assert_eq!(m.respond("/readyz").0, 200);
        assert_eq!(m.respond("/healthz").0, 200);
        assert_eq!(m.respond("/nope").0, 404);
    }

    #[tokio::test]
    async fn serves_metrics_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, Arc::new(Metrics::default())));
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        server.abort();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("ferrimq_operator_reconciles_total 0\n"));
    }
}
