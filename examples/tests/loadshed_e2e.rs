//! Load shedding in front of `secure_api`'s routes: with `/llm` overloaded
//! (many concurrent clients against a slow upstream, over real loopback
//! HTTP), sheddable `/llm` requests get `503` + `Retry-After` at once while
//! `/auth` (critical) and the probes keep succeeding, and admitted `/llm`
//! requests keep their latency.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{try_send_to, SecureApi};
use tokio::sync::Mutex;

const UPSTREAM_LATENCY_MS: u64 = 200;
const LLM_CLIENTS: usize = 48;
const RUN: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sheddable_llm_is_refused_while_auth_and_probes_succeed() {
    let latency = UPSTREAM_LATENCY_MS.to_string();
    let api = Arc::new(
        SecureApi::start_with(
            &[("UPSTREAM_LATENCY_MS", &latency)],
            &[
                // Rate limits out of the way: every client here is 127.0.0.1.
                "--set",
                "rate_limits.llm=1000000/min",
                "--set",
                "rate_limits.auth=1000000/min",
                "--set",
                "load_shedding.algorithm=fixed",
                "--set",
                "load_shedding.limit=16",
                "--set",
                "load_shedding.critical_share=0.25",
                "--set",
                "load_shedding.default_share=0.25",
            ],
        )
        .await,
    );
    let deadline = Instant::now() + RUN;

    // The overload: 48 clients in closed loops, 3× what /llm may hold (8).
    let admitted = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let mut shed = Vec::new();
    let mut llm = Vec::new();
    for _ in 0..LLM_CLIENTS {
        let api = api.clone();
        let admitted = admitted.clone();
        llm.push(tokio::spawn(async move {
            let mut refused = 0u32;
            let mut other = Vec::new();
            while Instant::now() < deadline {
                let req = api
                    .request("POST", "/llm/complete")
                    .header("content-type", "application/json")
                    .body(Bytes::from_static(br#"{"prompt":"hi"}"#))
                    .unwrap();
                let start = Instant::now();
                let Ok(res) = try_send_to(api.addr, req).await else {
                    other.push(0);
                    continue;
                };
                let took = start.elapsed();
                match res.status().as_u16() {
                    200 => admitted.lock().await.push(took),
                    503 => {
                        assert!(res.headers().contains_key("retry-after"), "{res:?}");
                        assert!(
                            took < Duration::from_millis(UPSTREAM_LATENCY_MS),
                            "refused at once, not after the upstream ({took:?})"
                        );
                        refused += 1;
                        // A client that honours Retry-After would wait; this
                        // one keeps the pressure on, a little spaced.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    s => other.push(s),
                }
            }
            (refused, other)
        }));
    }

    // Meanwhile, critical and probe traffic.
    let mut auth_ok = 0;
    let mut probes_ok = 0;
    let mut probe_times = Vec::new();
    tokio::time::sleep(Duration::from_millis(300)).await;
    while Instant::now() < deadline {
        let login = api
            .request("POST", "/auth/login")
            .header("content-type", "application/json")
            .body(Bytes::from_static(br#"{"username":"ann","password":"pw"}"#))
            .unwrap();
        let res = try_send_to(api.addr, login).await.expect("auth answers");
        assert_eq!(res.status(), 200, "auth is never shed: {res:?}");
        auth_ok += 1;
        for probe in ["/livez", "/readyz"] {
            let start = Instant::now();
            let res = try_send_to(
                api.addr,
                api.request("GET", probe).body(Bytes::new()).unwrap(),
            )
            .await
            .expect("probe answers");
            probe_times.push(start.elapsed());
            assert_eq!(res.status(), 200, "{probe} under overload: {res:?}");
            probes_ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for task in llm {
        let (refused, other) = task.await.unwrap();
        assert!(other.is_empty(), "only 200 or 503 for /llm: {other:?}");
        shed.push(refused);
    }
    let refused: u32 = shed.iter().sum();
    let mut admitted = admitted.lock().await.clone();
    admitted.sort();
    assert!(refused > 50, "the overload is shed: {refused} refusals");
    assert!(
        admitted.len() > 20,
        "/llm still admits work: {}",
        admitted.len()
    );
    assert!(
        auth_ok >= 10 && probes_ok >= 20,
        "auth {auth_ok}, probes {probes_ok}"
    );
    let p99 = admitted[(admitted.len() * 99 / 100).min(admitted.len() - 1)];
    // Admitted requests never queue behind the overload: upstream latency
    // plus a bounded overhead (debug build, 2 shared cores).
    assert!(
        p99 < Duration::from_millis(UPSTREAM_LATENCY_MS + 800),
        "admitted /llm p99 {p99:?}"
    );
    probe_times.sort();
    let probe_p99 = probe_times[(probe_times.len() * 99 / 100).min(probe_times.len() - 1)];
    assert!(
        probe_p99 < Duration::from_millis(500),
        "probe p99 {probe_p99:?}"
    );
    eprintln!(
        "loadshed_e2e: {} admitted (p99 {p99:?}), {refused} shed, {auth_ok} auth ok, {probes_ok} probes ok (p99 {probe_p99:?})",
        admitted.len()
    );
}
