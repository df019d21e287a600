//! Every dashboard panel shows the traffic sent, through a real Prometheus
//! scraping the gateway as the ServiceMonitor would.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

// ------------------------------------------------------------------ Prometheus

/// How often the test's Prometheus scrapes the gateway.
const SCRAPE_INTERVAL_SECS: u64 = 1;
/// What Grafana substitutes for `$__rate_interval` at a short time range: four
/// scrape intervals (its floor), since `$__interval` is below one here.
const RATE_INTERVAL: &str = "4s";
/// The labels the ServiceMonitor's scrape gives each series in Kubernetes
/// (`job` is the admin Service's name), so the dashboard's matchers select
/// exactly as they would there.
const NAMESPACE: &str = "payments";
const JOB: &str = "wg-webhook-gateway-admin";
const POD: &str = "wg-webhook-gateway-7d9f-abcde";

/// A real Prometheus server (Debian's `prometheus`) scraping the gateway's
/// admin port; killed when dropped. Fails loudly when missing.
struct Prometheus {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn scraping(target: std::net::SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE_INTERVAL_SECS}s\n  scrape_timeout: {SCRAPE_INTERVAL_SECS}s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n        \
                 labels: {{namespace: {NAMESPACE}, pod: {POD}, service: {JOB}}}\n"
            ),
        )
        .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = std::process::Command::new(
            std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into()),
        )
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start prometheus ({e}): run the README's test command, which installs it"
            )
        });
        let prometheus = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(get(addr, "/-/ready").await, Ok(r) if r.status == 200) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    /// One `/api/v1/...` call; panics unless Prometheus answers success.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect();
        let reply = get(self.addr, &format!("/api/v1/{path}?{}", query.join("&")))
            .await
            .expect("prometheus answers");
        let json = reply.json();
        assert_eq!(json["status"], "success", "{path} {params:?}: {json}");
        json["data"].clone()
    }

    /// An instant query's samples: labels and value.
    async fn instant(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let data = self.api("query", &[("query", query)]).await;
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"].clone(), parse_sample(&s["value"][1])))
            .collect()
    }

    /// Polls an instant query until `done` holds for its samples.
    async fn wait_for(
        &self,
        query: &str,
        what: &str,
        done: impl Fn(&[(serde_json::Value, f64)]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let samples = self.instant(query).await;
            if done(&samples) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: `{query}` gave {samples:?} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus sends sample values as strings ("NaN" and "+Inf" included).
fn parse_sample(v: &serde_json::Value) -> f64 {
    v.as_str()
        .expect("a sample string")
        .parse()
        .expect("a number")
}

/// One series of a panel query over the test's time range.
#[derive(Debug)]
struct Series {
    labels: serde_json::Value,
    /// The finite values (histogram_quantile gives NaN where nothing happened).
    values: Vec<f64>,
}

impl Series {
    fn label(&self, name: &str) -> &str {
        self.labels[name].as_str().unwrap_or("")
    }
    fn max(&self) -> f64 {
        self.values.iter().copied().fold(f64::NAN, f64::max)
    }
    fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::NAN, f64::min)
    }
}

/// The panel's expression with the dashboard's variables replaced as Grafana
/// replaces them: single-valued `$namespace`/`$job` by the value the variable's
/// own query chose, `$__rate_interval` by four scrape intervals.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    for (name, value) in vars {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(
        !out.contains('$'),
        "a variable the test does not know: {out}"
    );
    out
}

fn by<'a>(series: &'a [Series], label: &str, value: &str) -> &'a Series {
    series
        .iter()
        .find(|s| s.label(label) == value)
        .unwrap_or_else(|| panic!("no series with {label}={value:?} in {series:?}"))
}

/// What each panel must show after the test's traffic. A panel without an
/// entry here fails the test: every panel is checked.
fn check_panel(panel: &str, legend: &str, series: &[Series], publish_timeout_secs: f64) {
    let ctx = format!("panel {panel:?}, legend {legend:?}: {series:?}");
    assert!(!series.is_empty(), "no series: {ctx}");
    match (panel, legend) {
        ("Request rate by outcome", _) => {
            for outcome in [
                "accepted",
                "unauthorized",
                "unrouted",
                "deadlettered",
                "unavailable",
                "not_found",
                "method_not_allowed",
            ] {
                assert!(
                    by(series, "outcome", outcome).max() > 0.0,
                    "{outcome}: {ctx}"
                );
            }
            // Never sent, yet there at zero: the series exist before the first one.
            for outcome in [
                "too_large",
                "body_timeout",
                "overloaded",
                "bad_request",
                "internal_error",
            ] {
                assert_eq!(
                    by(series, "outcome", outcome).max(),
                    0.0,
                    "{outcome}: {ctx}"
                );
            }
        }
        ("Request latency p50 / p99", "p50") => {
            assert!(series[0].min() < 0.5, "fast answers: {ctx}");
        }
        ("Request latency p50 / p99", "p99") => {
            // The 503s waited for the publish timeout.
            assert!(series[0].max() >= publish_timeout_secs / 2.0, "{ctx}");
            assert!(series[0].max() <= 15.0, "{ctx}");
        }
        ("Publish latency p50 / p99", "p50" | "p99") => {
            assert!(series[0].min() > 0.0 && series[0].min() < 1.0, "{ctx}");
        }
        ("Publish latency p50 / p99", "p99 {{topic}}") => {
            for topic in [
                "webhooks.m2m.link.opened",
                "webhooks.transfers.payment.completed",
                "webhooks.unrouted",
                "webhooks.deadletter",
            ] {
                assert!(by(series, "topic", topic).max() > 0.0, "{topic}: {ctx}");
            }
        }
        ("Publish errors by reason", "{{reason}}") => {
            assert!(by(series, "reason", "timeout").max() > 0.0, "{ctx}");
            for reason in ["queue_full", "fatal", "closed"] {
                assert_eq!(by(series, "reason", reason).max(), 0.0, "{reason}: {ctx}");
            }
        }
        ("Publish errors by reason", "producer replacements") => {
            assert_eq!(series[0].max(), 0.0, "{ctx}");
        }
        ("In-flight requests", _) => {
            let pod = by(series, "pod", POD);
            assert!(pod.max() >= 1.0, "the frozen broker's requests: {ctx}");
            assert_eq!(pod.values.last(), Some(&0.0), "all answered: {ctx}");
        }
        ("Producer queue depth", _) => {
            assert!(by(series, "pod", POD).min() >= 0.0, "{ctx}");
        }
        ("Topic availability", _) => {
            let topics: HashSet<&str> = series.iter().map(|s| s.label("topic")).collect();
            for topic in default_topics() {
                assert!(topics.contains(topic.as_str()), "{topic}: {ctx}");
            }
            for s in series {
                assert_eq!(s.values.last(), Some(&1.0), "{ctx}");
            }
        }
        ("Signature failures by reason", _) => {
            let got = |provider: &str, reason: &str| {
                series
                    .iter()
                    .find(|s| s.label("provider") == provider && s.label("reason") == reason)
                    .unwrap_or_else(|| panic!("no {provider} {reason}: {ctx}"))
                    .max()
            };
            for (provider, reason) in [
                ("transfers", "signature_missing"),
                ("transfers", "signature_malformed"),
                ("transfers", "signature_mismatch"),
                ("m2m", "timestamp_outside_window"),
            ] {
                assert!(got(provider, reason) > 0.0, "{provider} {reason}: {ctx}");
            }
            for (provider, reason) in [
                ("m2m", "signature_missing"),
                ("m2m", "signature_malformed"),
                ("m2m", "signature_mismatch"),
                ("transfers", "timestamp_outside_window"),
            ] {
                assert_eq!(got(provider, reason), 0.0, "{provider} {reason}: {ctx}");
            }
        }
        ("Events published by topic", _) => {
            for topic in [
                "webhooks.m2m.link.opened",
                "webhooks.transfers.payment.completed",
                "webhooks.unrouted",
                "webhooks.deadletter",
            ] {
                assert!(by(series, "topic", topic).max() > 0.0, "{topic}: {ctx}");
            }
        }
        ("Broker round trip", _) => {
            for s in series {
                assert!(!s.label("broker").is_empty(), "{ctx}");
                // Seconds, not librdkafka's microseconds.
                assert!(s.min() >= 0.0 && s.max() < 30.0, "{ctx}");
            }
        }
        _ => panic!("no expectation for this panel: add one to check_panel ({ctx})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and prometheus (server and promtool): run by scripts/test.sh"]
async fn every_dashboard_panel_shows_the_traffic_sent_through_a_real_prometheus() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let publish_timeout_ms = 2500;
    let env = gateway_env(
        &broker.bootstrap(),
        &[(
            "GATEWAY_PUBLISH_TIMEOUT_MS",
            publish_timeout_ms.to_string().as_str(),
        )],
    );
    let gw = Gateway::start_ready(env).await;
    let public = gw.public;
    let prometheus = Prometheus::scraping(gw.admin).await;
    let up = format!(r#"up{{namespace="{NAMESPACE}", job="{JOB}"}}"#);
    prometheus
        .wait_for(&up, "first scrape", |s| s.len() == 1 && s[0].1 == 1.0)
        .await;
    let started = crate::common::now_secs() - 1;

    // From the first scrape, before any error: the bounded series exist at zero.
    for series in [
        r#"webhook_requests_total{provider="m2m", outcome="unavailable"}"#,
        r#"webhook_requests_total{provider="transfers", outcome="overloaded"}"#,
        r#"webhook_signature_failures_total{provider="m2m", reason="signature_mismatch"}"#,
        r#"kafka_publish_errors_total{reason="timeout"}"#,
        r#"kafka_producer_replacements_total"#,
    ] {
        let samples = prometheus.instant(series).await;
        assert_eq!(
            samples.len(),
            1,
            "{series} at the first scrape: {samples:?}"
        );
        assert_eq!(samples[0].1, 0.0, "{series}");
    }

    // Known traffic: accepted, unrouted and dead-lettered in rounds a scrape
    // apart, as steady traffic is (a histogram series is born at its first
    // observation, and rate() sees only the increases after it), then refused
    // for each signature reason, not found, wrong method.
    let m2m_opened = br#"{"event":"link.opened","data":{"linkId":"lnk-1","referenceId":"user-7"}}"#;
    let m2m_unknown =
        br#"{"event":"link.expired","data":{"linkId":"lnk-9","referenceId":"user-7"}}"#;
    for _ in 0..3 {
        for (provider, body) in [
            ("m2m", &m2m_opened[..]),
            ("transfers", &transfers_body(1)[..]),
            ("m2m", &m2m_unknown[..]),
            ("transfers", b"amount=100&status=ok"),
        ] {
            let reply = send_signed(public, provider, body).await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        tokio::time::sleep(Duration::from_millis(1200 * SCRAPE_INTERVAL_SECS)).await;
    }
    for (signature, why) in [
        (None, "missing"),
        (Some("zz".to_string()), "malformed"),
        (Some("ab".repeat(32)), "mismatch"),
    ] {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(signature.map(|sig| ("x-transfers-signature".to_string(), sig)));
        let reply = request(
            public,
            "POST",
            "/webhooks/transfers",
            &headers,
            transfers_body(2),
        );
        assert_eq!(reply.await.unwrap().status, 401, "{why}");
    }
    let stale = (crate::common::now_secs() - 3600).to_string();
    let stale_headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-m2m-timestamp".to_string(), stale.clone()),
        (
            "x-m2m-signature".to_string(),
            hmac_hex(M2M_SECRET, &[stale.as_bytes(), b".", m2m_opened]),
        ),
    ];
    let reply = request(
        public,
        "POST",
        "/webhooks/m2m",
        &stale_headers,
        m2m_opened.to_vec(),
    );
    assert_eq!(reply.await.unwrap().status, 401, "stale");
    assert_eq!(get(public, "/webhooks/nope").await.unwrap().status, 404);
    assert_eq!(get(public, "/webhooks/m2m").await.unwrap().status, 405);

    // A frozen broker: two requests, a scrape apart, wait for the publish
    // timeout and get 503; scrapes see them in flight meanwhile.
    broker.freeze();
    let mut stuck = Vec::new();
    for n in 20..22 {
        stuck.push(tokio::spawn(async move {
            send_signed(public, "transfers", &transfers_body(n)).await
        }));
        tokio::time::sleep(Duration::from_millis(1500 * SCRAPE_INTERVAL_SECS)).await;
    }
    for s in stuck {
        assert_eq!(s.await.unwrap().unwrap().status, 503);
    }
    broker.thaw();

    // Wait until Prometheus has scraped the final counts and a statistics round.
    let total = format!(r#"sum(webhook_requests_total{{namespace="{NAMESPACE}", job="{JOB}"}})"#);
    prometheus
        .wait_for(&total, "all requests scraped", |s| {
            s.len() == 1 && s[0].1 == 20.0
        })
        .await;
    prometheus
        .wait_for("kafka_broker_rtt_seconds", "broker statistics", |s| {
            !s.is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2 * SCRAPE_INTERVAL_SECS)).await;
    let end = crate::common::now_secs() + 1;

    // The variables' own queries choose the values Grafana would.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/helm/webhook-gateway/dashboards/webhook-gateway.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut vars: Vec<(&str, String)> = vec![("__rate_interval", RATE_INTERVAL.into())];
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap();
        let definition = var["definition"].as_str().unwrap();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let definition = substitute(definition, &pairs);
        let (selector, label) = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .and_then(|d| d.rsplit_once(", "))
            .unwrap_or_else(|| panic!("variable {name}: not label_values(selector, label)"));
        let values = prometheus
            .api(&format!("label/{label}/values"), &[("match[]", selector)])
            .await;
        let first = values[0]
            .as_str()
            .unwrap_or_else(|| panic!("variable {name}: no values"));
        vars.push((name, first.to_string()));
    }
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(
        pairs.contains(&("namespace", NAMESPACE)) && pairs.contains(&("job", JOB)),
        "{pairs:?}"
    );

    // Every panel's every query, over the test's time range, as Grafana runs them.
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = substitute(target["expr"].as_str().unwrap(), &pairs);
            let legend = target["legendFormat"].as_str().unwrap_or("");
            let data = prometheus
                .api(
                    "query_range",
                    &[
                        ("query", &expr),
                        ("start", &started.to_string()),
                        ("end", &end.to_string()),
                        ("step", &SCRAPE_INTERVAL_SECS.to_string()),
                    ],
                )
                .await;
            let series: Vec<Series> = data["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Series {
                    labels: s["metric"].clone(),
                    values: s["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| parse_sample(&v[1]))
                        .filter(|v| v.is_finite())
                        .collect(),
                })
                .filter(|s| !s.values.is_empty())
                .collect();
            check_panel(title, legend, &series, publish_timeout_ms as f64 / 1000.0);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} panel queries");

    // The exposition passes Prometheus's own linter.
    let text = get(gw.admin, "/metrics").await.unwrap().text();
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (installed with prometheus by the README's test command)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;
}
