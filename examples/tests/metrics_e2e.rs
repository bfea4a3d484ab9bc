//! Metrics of the real `secure_api` binary: the admin listener, the
//! exposition checked by `promtool`, the example rules' unit tests, and a
//! real Prometheus scraping it.
//!
//! `PROMTOOL` / `PROMETHEUS` name the binaries (default: found on `PATH`).
//! Without them the tests say so and pass locally; with `CI=true` they fail.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use support::{send_to, try_send_to, RedisServer, SecureApi};

/// The binary named by `$var`, else `name` on `PATH`; `None` (after saying
/// why) when neither exists outside CI. In CI a missing binary fails.
fn tool(var: &str, name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os(var).map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: `{name}` not found (set {var} or install Debian's `prometheus` package)"
        );
        eprintln!("{test}: skipped, `{name}` not found (set {var} or apt-get install prometheus)");
    }
    found
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prometheus")
}

/// The admin address `secure_api` printed.
async fn metrics_addr(api: &SecureApi) -> SocketAddr {
    api.wait_for_output("metrics on http://", Duration::from_secs(30))
        .await;
    let out = api.output();
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("metrics on http://"))
        .unwrap();
    line.trim_end_matches("/metrics").parse().unwrap()
}

async fn scrape(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let mut req = Request::get("/metrics").header("host", addr.to_string());
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let res = send_to(addr, req.body(Bytes::new()).unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, String::from_utf8(res.body().to_vec()).unwrap())
}

async fn login(api: &SecureApi) -> StatusCode {
    let req = api
        .request("POST", "/auth/login")
        .header("content-type", "application/json")
        .body(Bytes::from_static(
            br#"{"username":"alice","password":"hunter2"}"#,
        ))
        .unwrap();
    api.send(req).await.status()
}

/// Six logins (the sixth is refused) and two scanner paths.
async fn drive_traffic(api: &SecureApi) {
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login(api).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(
        api.get("/wp-admin/setup.php").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get("/.env").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_served_on_the_admin_listener_only() {
    let api = SecureApi::start().await;
    let admin = metrics_addr(&api).await;
    assert_ne!(admin, api.addr);
    drive_traffic(&api).await;

    // The public router has no /metrics.
    assert_eq!(api.get("/metrics").await.status(), StatusCode::NOT_FOUND);

    let (ct, om) = scrape(
        admin,
        Some("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3"),
    )
    .await;
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains(r#"http_server_request_duration_seconds_count{http_request_method="POST",http_route="/auth/login",http_response_status_code="429"} 1"#), "{om}");
    // The two scanner paths and the public `/metrics` share one label.
    assert!(
        om.contains(r#"http_route="_unmatched",http_response_status_code="404"} 3"#),
        "{om}"
    );
    assert!(!om.contains("wp-admin") && !om.contains(".env"));

    let (ct, text) = scrape(admin, None).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"));
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let Some(promtool) = tool("PROMTOOL", "promtool", "promtool_accepts_the_exposition") else {
        return;
    };
    let api = SecureApi::start().await;
    let admin = metrics_addr(&api).await;
    drive_traffic(&api).await;
    let (_, text) = scrape(admin, Some("text/plain;version=0.0.4")).await;

    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}\n{text}"
    );
    assert!(
        report.trim().is_empty(),
        "promtool reported problems:\n{report}"
    );
}

#[test]
fn promtool_checks_and_tests_the_example_rules() {
    let Some(promtool) = tool(
        "PROMTOOL",
        "promtool",
        "promtool_checks_and_tests_the_example_rules",
    ) else {
        return;
    };
    let dir = rules_dir();
    for args in [
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "rules", "rules/recording.yml", "rules/alerts.yml"],
        vec!["test", "rules", "rules/alerts_test.yml"],
    ] {
        let out = Command::new(&promtool)
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A `prometheus` process of the test's own, on a free loopback port with
/// its data in a temporary directory; killed and removed on drop.
struct Prometheus {
    addr: SocketAddr,
    child: std::process::Child,
    dir: PathBuf,
}

impl Prometheus {
    fn start(binary: &Path, target: SocketAddr) -> Self {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let dir = std::env::temp_dir().join(format!("hardening-prometheus-{}", addr.port()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let rules = rules_dir().join("rules");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rec}\n  - {alerts}\n\
             scrape_configs:\n  - job_name: secure_api\n    static_configs:\n      - targets: [\"{target}\"]\n",
            rec = rules.join("recording.yml").display(),
            alerts = rules.join("alerts.yml").display(),
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus { addr, child, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    async fn get(&self, path_and_query: &str) -> Option<(StatusCode, String)> {
        let req = Request::get(path_and_query)
            .header("host", self.addr.to_string())
            .body(Bytes::new())
            .unwrap();
        let res = try_send_to(self.addr, req).await.ok()?;
        Some((
            res.status(),
            String::from_utf8_lossy(res.body()).into_owned(),
        ))
    }

    /// The samples of an instant query: (labels, value) pairs.
    async fn query(&self, promql: &str) -> Vec<(serde_json::Value, String)> {
        let (status, body) = self
            .get(&format!("/api/v1/query?query={}", encode(promql)))
            .await
            .expect("prometheus answers");
        assert_eq!(status, StatusCode::OK, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"].clone(),
                    s["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls `check` every 200 ms until it returns `Some`, for at most 60 s.
async fn eventually<T, F, Fut>(what: &str, prometheus: &Prometheus, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..300 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{what} never happened; prometheus log:\n{}",
        prometheus.log()
    );
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_admin_listener() {
    let Some(binary) = tool(
        "PROMETHEUS",
        "prometheus",
        "a_real_prometheus_scrapes_the_admin_listener",
    ) else {
        return;
    };
    let api = SecureApi::start().await;
    let admin = metrics_addr(&api).await;
    let prometheus = Prometheus::start(&binary, admin);
    eventually("prometheus ready", &prometheus, || async {
        matches!(prometheus.get("/-/ready").await, Some((StatusCode::OK, _))).then_some(())
    })
    .await;

    drive_traffic(&api).await;

    let refused = r#"http_server_request_duration_seconds_count{job="secure_api",http_route="/auth/login",http_response_status_code="429"}"#;
    let samples = eventually("the 429 series scraped", &prometheus, || async {
        let samples = prometheus.query(refused).await;
        (!samples.is_empty()).then_some(samples)
    })
    .await;
    assert_eq!(samples.len(), 1, "{samples:?}");
    let (labels, value) = &samples[0];
    assert_eq!(value, "1");
    assert_eq!(labels["http_request_method"], "POST");
    assert_eq!(labels["instance"], admin.to_string());

    let admitted = prometheus
        .query(r#"http_server_request_duration_seconds_count{http_route="/auth/login",http_response_status_code="200"}"#)
        .await;
    assert_eq!(admitted.len(), 1, "{admitted:?}");
    assert_eq!(admitted[0].1, "5");

    // The scanner paths share the one fixed route label.
    let routes = prometheus
        .query("count by (http_route) (http_server_request_duration_seconds_count)")
        .await;
    let mut names: Vec<_> = routes
        .iter()
        .map(|(l, _)| l["http_route"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["/auth/login", "_unmatched"]);
    let unmatched = prometheus
        .query(r#"sum(http_server_request_duration_seconds_count{http_route="_unmatched"})"#)
        .await;
    assert_eq!(unmatched[0].1, "2");

    let up = prometheus.query(r#"up{job="secure_api"}"#).await;
    assert_eq!(up[0].1, "1");
    // The example rules loaded and evaluate.
    let ratio = eventually("the 429 ratio recorded", &prometheus, || async {
        let s = prometheus
            .query("job:http_server_requests_429:ratio_rate5m")
            .await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(ratio[0].0["job"], "secure_api");
}

async fn complete(api: &SecureApi) -> StatusCode {
    let req = api
        .request("POST", "/llm/complete")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"prompt":"hello"}"#))
        .unwrap();
    api.send(req).await.status()
}

/// The value of the one sample `promql` returns, once Prometheus has it.
async fn one_value(prometheus: &Prometheus, promql: &str) -> String {
    let samples = eventually(promql, prometheus, || async {
        let s = prometheus.query(promql).await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(samples.len(), 1, "{promql}: {samples:?}");
    samples[0].1.clone()
}

/// Waits until `promql` has exactly one sample equal to `expected`: the
/// series exist (at 0) from start-up, so the first scrape after the
/// traffic is what to wait for.
async fn value_becomes(prometheus: &Prometheus, promql: &str, expected: &str) {
    let what = format!("{promql} == {expected}");
    eventually(&what, prometheus, || async {
        let s = prometheus.query(promql).await;
        (s.len() == 1 && s[0].1 == expected).then_some(())
    })
    .await;
}

/// A 429, an open breaker and a failing check, seen through the layers'
/// observers by a real Prometheus.
#[tokio::test]
async fn the_layers_report_their_own_metrics_to_prometheus() {
    let Some(binary) = tool(
        "PROMETHEUS",
        "prometheus",
        "the_layers_report_their_own_metrics_to_prometheus",
    ) else {
        return;
    };
    let api = SecureApi::start_with(
        &[
            ("UPSTREAM_FAILURE_RATE", "1"),
            ("UPSTREAM_LATENCY_MS", "0"),
            ("HEALTH_CACHE_TTL_MS", "1"),
        ],
        &[],
    )
    .await;
    let admin = metrics_addr(&api).await;
    let prometheus = Prometheus::start(&binary, admin);
    eventually("prometheus ready", &prometheus, || async {
        matches!(prometheus.get("/-/ready").await, Some((StatusCode::OK, _))).then_some(())
    })
    .await;

    // A 429 from the `auth` policy.
    drive_traffic(&api).await;
    // The failing upstream trips the breaker after 5 calls; the 6th is
    // refused while open.
    for _ in 0..5 {
        assert_eq!(complete(&api).await, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(complete(&api).await, StatusCode::SERVICE_UNAVAILABLE);
    // The breaker check now fails; readiness answers (degraded).
    let health = api.get("/health").await;
    assert!(health.status().is_success() || health.status() == 503);
    let _ = api.get("/readyz").await;

    value_becomes(
        &prometheus,
        r#"hardening_ratelimit_decisions_total{job="secure_api",policy="auth",outcome="rejected"}"#,
        "1",
    )
    .await;
    value_becomes(
        &prometheus,
        r#"hardening_ratelimit_decisions_total{job="secure_api",policy="auth",outcome="admitted"}"#,
        "5",
    )
    .await;
    value_becomes(
        &prometheus,
        r#"hardening_circuit_breaker_state{job="secure_api",breaker="llm_upstream",state="open"}"#,
        "1",
    )
    .await;
    value_becomes(&prometheus, r#"hardening_circuit_transitions_total{job="secure_api",breaker="llm_upstream",from="closed",to="open"}"#, "1").await;
    value_becomes(&prometheus, r#"hardening_circuit_calls_total{job="secure_api",breaker="llm_upstream",outcome="rejected"} > 0"#, "1").await;
    let failures: u64 = one_value(
        &prometheus,
        r#"hardening_circuit_calls_total{job="secure_api",breaker="llm_upstream",outcome="failure"}"#,
    )
    .await
    .parse()
    .unwrap();
    assert!(failures >= 5, "{failures}");
    let retried: u64 = one_value(
        &prometheus,
        r#"sum(hardening_retry_attempts_total{job="secure_api",retry="llm_upstream"})"#,
    )
    .await
    .parse()
    .unwrap();
    assert!(retried >= 6, "{retried}");
    value_becomes(&prometheus, r#"hardening_health_check_status{job="secure_api",check="upstream:circuitState",status="fail"} == 1"#, "1").await;
    let runs: u64 = one_value(
        &prometheus,
        r#"hardening_health_check_duration_seconds_count{job="secure_api",check="upstream:circuitState"}"#,
    )
    .await
    .parse()
    .unwrap();
    assert!(runs > 0);
    // The load shedder's limit, in-flight and refusals by class.
    let limit: u64 = one_value(
        &prometheus,
        r#"hardening_concurrency_limit{job="secure_api",limiter="routes"}"#,
    )
    .await
    .parse()
    .unwrap();
    assert!(limit > 0, "{limit}");
    for family in [
        "hardening_concurrency_in_flight",
        "hardening_concurrency_rejected_total",
    ] {
        let series = prometheus
            .query(&format!(r#"{family}{{job="secure_api",limiter="routes"}}"#))
            .await;
        let mut classes: Vec<_> = series
            .iter()
            .map(|(l, _)| l["class"].as_str().unwrap().to_owned())
            .collect();
        classes.sort();
        assert_eq!(classes, ["critical", "default", "sheddable"], "{family}");
    }
    // The logged login passwords were masked, and counted by rule.
    let redactions = eventually("redactions counted", &prometheus, || async {
        let s = prometheus
            .query(r#"hardening_redactions_total{job="secure_api"} > 0"#)
            .await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    let rules: Vec<_> = redactions
        .iter()
        .map(|(l, _)| l["rule"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        rules.iter().any(|r| r == "key_value" || r == "field_name"),
        "{redactions:?}"
    );
    // Labels come from configuration only: no client key, address or path.
    let series = prometheus
        .query(r#"{job="secure_api",__name__=~"hardening_.*"}"#)
        .await;
    assert!(!series.is_empty());
    for (labels, _) in &series {
        let text = labels.to_string();
        assert!(
            !text.contains("127.0.0.1:") || text.contains(&admin.to_string()),
            "{text}"
        );
        assert!(!text.contains("alice"), "{text}");
    }
    // The hook-dependent example rules load and evaluate.
    let open = eventually("the breaker-open rule evaluated", &prometheus, || async {
        let s = prometheus
            .query(r#"ALERTS{alertname="SecureApiCircuitBreakerOpen"}"#)
            .await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(open[0].0["breaker"], "llm_upstream");
}

/// `secure_api` on a Redis of the test's own, which the test kills: the
/// store state goes to `local_fallback` (and the fallback alert pending),
/// fallback decisions are counted, and the state goes back to `up` when
/// Redis returns — all read through Prometheus's query API.
#[tokio::test]
async fn the_rate_limit_store_state_reaches_prometheus() {
    let test = "the_rate_limit_store_state_reaches_prometheus";
    let Some(binary) = tool("PROMETHEUS", "prometheus", test) else {
        return;
    };
    let Some(mut redis) = RedisServer::start(test) else {
        return;
    };
    let url = redis.url();
    let api = SecureApi::start_with(&[("REDIS_URL", url.as_str())], &[]).await;
    let admin = metrics_addr(&api).await;
    let prometheus = Prometheus::start(&binary, admin);
    eventually("prometheus ready", &prometheus, || async {
        matches!(prometheus.get("/-/ready").await, Some((StatusCode::OK, _))).then_some(())
    })
    .await;
    let state = |state: &str| {
        format!(
            r#"hardening_ratelimit_store_state{{job="secure_api",policy="auth",state="{state}"}}"#
        )
    };

    assert_eq!(login(&api).await, StatusCode::OK);
    value_becomes(&prometheus, &state("up"), "1").await;
    value_becomes(
        &prometheus,
        r#"hardening_ratelimit_fallback_decisions_total{job="secure_api",policy="auth"}"#,
        "0",
    )
    .await;

    redis.kill();
    assert_eq!(login(&api).await, StatusCode::OK, "limited locally");
    value_becomes(&prometheus, &state("local_fallback"), "1").await;
    value_becomes(&prometheus, &state("up"), "0").await;
    value_becomes(
        &prometheus,
        r#"hardening_ratelimit_fallback_decisions_total{job="secure_api",policy="auth"} > 0"#,
        "1",
    )
    .await;
    let pending = eventually("the store-fallback alert pending", &prometheus, || async {
        let s = prometheus
            .query(r#"ALERTS{alertname="SecureApiRateLimitStoreFallback",policy="auth"}"#)
            .await;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(pending[0].0["alertstate"], "pending");
    assert_eq!(pending[0].0["state"], "local_fallback");

    redis.restart().expect("restart redis-server");
    // The store probes Redis again on a request after its retry interval.
    eventually("the store back up", &prometheus, || async {
        let _ = login(&api).await;
        let s = prometheus.query(&state("up")).await;
        (s.len() == 1 && s[0].1 == "1").then_some(())
    })
    .await;
    value_becomes(&prometheus, &state("local_fallback"), "0").await;
}
