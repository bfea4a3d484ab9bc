//! The two Content-Security-Policies `secure_api` really sends (its HTML
//! pages' and its JSON routes'), read off the wire and run through Google's
//! CSP Evaluator (npm `csp_evaluator`, the library behind Lighthouse's
//! "CSP is effective against XSS" audit): no finding above informational,
//! and no Lighthouse failure, warning or syntax finding.
//!
//! Needs `node` and `CSP_EVALUATOR_DIR`, a directory where
//! `npm install --prefix DIR csp_evaluator` was run (`.ci/run` does this).
//! Without it the test is skipped locally and fails in CI.

mod support;

use std::process::Command;

use bytes::Bytes;
use http::header::HOST;
use serde_json::Value;

use support::{external_tool, SecureApi};

const CHECK_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../hardening-headers/tests/csp_evaluator/check.mjs"
);

/// The evaluator's `Severity.INFO`; lower numbers are more severe.
const INFO: u64 = 60;

/// Runs the evaluator on `policy`; returns every problem found.
fn problems(evaluator_dir: &std::path::Path, policy: &str) -> Vec<String> {
    let out = Command::new("node")
        .arg(CHECK_SCRIPT)
        .arg(evaluator_dir)
        .arg(policy)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "check.mjs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("check.mjs prints JSON");
    let mut problems = Vec::new();
    for finding in report["findings"].as_array().expect("findings") {
        if finding["severity"].as_u64().expect("severity") < INFO {
            problems.push(format!("evaluator: {finding}"));
        }
    }
    for kind in ["failures", "warnings", "syntax"] {
        for finding in report["lighthouse"][kind].as_array().expect(kind) {
            problems.push(format!("lighthouse {kind}: {finding}"));
        }
    }
    problems
}

#[test]
fn the_evaluator_flags_the_old_policy() {
    // The check itself can fail: the policy secure_api sent before the
    // strict preset ('self' in script-src, no 'strict-dynamic') is flagged.
    let Some(dir) = external_tool("csp_evaluator", "CSP_EVALUATOR_DIR", "csp_evaluator") else {
        return;
    };
    let old = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; \
               img-src 'self' data:; object-src 'none'; script-src 'self' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'; \
               script-src-attr 'none'; style-src 'self' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'";
    let found = problems(&dir, old);
    assert!(
        found
            .iter()
            .any(|p| p.contains("'self' can be problematic")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("lighthouse warnings")),
        "{found:#?}"
    );
}

#[tokio::test]
async fn both_policies_secure_api_sends_pass_the_csp_evaluator() {
    let Some(dir) = external_tool("csp_evaluator", "CSP_EVALUATOR_DIR", "csp_evaluator") else {
        return;
    };
    let api = SecureApi::start_with(
        &[
            ("PUBLIC_HOSTS", "api.example.test"),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
        &[],
    )
    .await;

    let mut checked = 0;
    for path in ["/", "/api/items"] {
        // over plain HTTP on loopback, and over HTTPS behind the proxy
        // (which adds upgrade-insecure-requests to the page's policy)
        for https in [false, true] {
            let mut req = api.request("GET", path);
            if https {
                req = req
                    .header(HOST, "api.example.test")
                    .header("x-forwarded-proto", "https");
            }
            let res = api.send(req.body(Bytes::new()).unwrap()).await;
            assert!(res.status().is_success(), "{path}: {}", res.status());
            let policies: Vec<&str> = res
                .headers()
                .get_all("content-security-policy")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert_eq!(policies.len(), 1, "{path}: one policy");
            let found = problems(&dir, policies[0]);
            assert!(
                found.is_empty(),
                "{path} (https: {https}) policy {:?}:\n{found:#?}",
                policies[0]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}
