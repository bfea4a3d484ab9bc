//! `--config`: the shipped file starts the server, a bad file stops the
//! start with an error naming the key and the value.

mod support;

use std::process::Stdio;

use support::SecureApi;

/// Runs `secure_api` with `args` and expects it to refuse to start.
async fn refused(args: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_secure_api"))
        .args(args)
        .env("ADDR", "127.0.0.1:0")
        .env("METRICS_ADDR", "off")
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), out)
        .await
        .expect("exits at once")
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("secure_api_config_e2e_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn the_shipped_file_starts_the_server() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/secure_api.toml");
    let api = SecureApi::start_with(&[], &["--config", shipped]).await;
    assert_eq!(api.get("/livez").await.status(), 200);
    assert_eq!(api.get("/api/items").await.status(), 200);
}

#[tokio::test]
async fn an_unknown_key_stops_the_start() {
    let path = write("unknown.toml", "[connections]\nidle_timeout = 5000\n");
    let (code, err) = refused(&["--config", &path]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("connections.idle_timeout"), "{err}");
    assert!(err.contains(&path), "names the file: {err}");
}

#[tokio::test]
async fn a_bad_value_stops_the_start_naming_key_and_value() {
    let path = write("bad.toml", "[rate_limits]\napi = \"60/fortnight\"\n");
    let (code, err) = refused(&["--config", &path]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("rate_limits.api") && err.contains("60/fortnight"),
        "{err}"
    );

    let path = write("type.toml", "[load_shedding]\nlimit = \"many\"\n");
    let (code, err) = refused(&["--config", &path]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("load_shedding.limit") && err.contains("many"),
        "{err}"
    );

    // An override is checked the same way and named.
    let (code, err) = refused(&["--set", "circuit.failures=0"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("circuit.failures") && err.contains("--set"),
        "{err}"
    );

    let (code, err) = refused(&["--config", "/nonexistent/secure_api.toml"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/secure_api.toml"), "{err}");
}
