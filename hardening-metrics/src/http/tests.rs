use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use hardening_core::FakeClock;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tower::{service_fn, Layer, Service, ServiceExt};

use super::*;

fn render(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

/// The value of the sample `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (set, value) = match rest.strip_prefix('{') {
            Some(rest) => rest.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|l| set.split(',').any(|p| p == *l))
            .then(|| value.split(' ').next().unwrap().parse().unwrap())
    })
}

/// The distinct values of label `label` over the samples of `name`.
fn label_values(text: &str, name: &str, label: &str) -> BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| {
            let start = l.find(&key)? + key.len();
            let end = l[start..].find('"')? + start;
            Some(l[start..end].to_owned())
        })
        .collect()
}

fn get_req(path: &str) -> Request<axum::body::Body> {
    Request::get(path).body(axum::body::Body::empty()).unwrap()
}

/// An axum app whose handlers take 30 ms of fake time.
fn app(clock: &FakeClock, registry: &mut Registry, builder: HttpMetricsBuilder) -> Router {
    let layer = builder.clock(clock.clone()).build(registry).unwrap();
    let c = clock.clone();
    let c2 = clock.clone();
    Router::new()
        .route(
            "/users/{id}",
            get(move || async move {
                c.advance(Duration::from_millis(30));
                "user"
            }),
        )
        .route("/boom", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .fallback(move || async move {
            c2.advance(Duration::from_millis(1));
            StatusCode::NOT_FOUND
        })
        .layer(layer)
}

#[tokio::test]
async fn duration_runs_until_the_body_ends() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let app = app(&clock, &mut registry, HttpMetricsLayer::builder());

    let response = app.oneshot(get_req("/users/42")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Headers are out after 30 ms; nothing is recorded yet.
    let text = render(&registry);
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(1.0)
    );
    assert!(!text.contains("http_server_request_duration_seconds_count{"));

    clock.advance(Duration::from_millis(45));
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "user"
    );

    let text = render(&registry);
    let labels = [
        r#"http_request_method="GET""#,
        r#"http_route="/users/{id}""#,
        r#"http_response_status_code="200""#,
    ];
    assert_eq!(
        sample(&text, "http_server_request_duration_seconds_sum", &labels),
        Some(0.075)
    );
    assert_eq!(
        sample(&text, "http_server_request_duration_seconds_count", &labels),
        Some(1.0)
    );
    let mut le_05 = labels.to_vec();
    le_05.push(r#"le="0.05""#);
    assert_eq!(
        sample(&text, "http_server_request_duration_seconds_bucket", &le_05),
        Some(0.0)
    );
    let mut le_075 = labels.to_vec();
    le_075.push(r#"le="0.075""#);
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_bucket",
            &le_075
        ),
        Some(1.0)
    );
    assert!(!text.contains("error_type"));
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn a_dropped_body_is_recorded_when_dropped() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let app = app(&clock, &mut registry, HttpMetricsLayer::builder());
    let response = app.oneshot(get_req("/users/1")).await.unwrap();
    clock.advance(Duration::from_millis(70));
    drop(response); // the client went away
    let text = render(&registry);
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_sum",
            &[r#"http_route="/users/{id}""#]
        ),
        Some(0.1)
    );
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(0.0)
    );
}

#[tokio::test]
async fn unknown_methods_are_other_and_5xx_has_an_error_type() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let app = app(&clock, &mut registry, HttpMetricsLayer::builder());
    let req = Request::builder()
        .method(Method::from_bytes(b"BREW").unwrap())
        .uri("/anything")
        .body(axum::body::Body::empty())
        .unwrap();
    drop(app.clone().oneshot(req).await.unwrap());
    drop(app.oneshot(get_req("/boom")).await.unwrap());
    let text = render(&registry);
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                r#"http_request_method="_OTHER""#,
                r#"http_route="_unmatched""#,
                r#"http_response_status_code="404""#
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                r#"http_route="/boom""#,
                r#"http_response_status_code="503""#,
                r#"error_type="503""#
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        label_values(
            &text,
            "http_server_request_duration_seconds_count",
            "http_request_method"
        ),
        BTreeSet::from(["GET".to_owned(), "_OTHER".to_owned()])
    );
}

#[tokio::test]
async fn ten_thousand_unknown_paths_add_no_route_label() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let app = app(&clock, &mut registry, HttpMetricsLayer::builder());
    drop(app.clone().oneshot(get_req("/users/7")).await.unwrap());
    let before = label_values(
        &render(&registry),
        "http_server_request_duration_seconds_count",
        "http_route",
    );
    for i in 0..10_000 {
        let path = format!("/wp-admin/{i}/.env?x={i}");
        drop(app.clone().oneshot(get_req(&path)).await.unwrap());
    }
    let text = render(&registry);
    let after = label_values(
        &text,
        "http_server_request_duration_seconds_count",
        "http_route",
    );
    assert_eq!(
        after,
        BTreeSet::from(["/users/{id}".to_owned(), UNMATCHED_ROUTE.to_owned()])
    );
    assert_eq!(
        before.len() + 1,
        after.len(),
        "only the fixed unmatched label is new"
    );
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[r#"http_route="_unmatched""#]
        ),
        Some(10_000.0)
    );
    assert!(!text.contains("wp-admin"));
}

/// A careless classifier that returns the raw path.
struct RawPath;

impl<B> ClassifyRoute<B> for RawPath {
    fn classify<'r>(&self, request: &'r Request<B>) -> Option<&'r str> {
        Some(request.uri().path())
    }
}

#[tokio::test]
async fn a_leaky_classifier_is_capped_by_max_routes() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let layer = HttpMetricsLayer::builder()
        .route_classifier(RawPath)
        .max_routes(20)
        .clock(clock)
        .build(&mut registry)
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    }));
    for i in 0..1_000 {
        let req = Request::get(format!("/p/{i}"))
            .body(Full::default())
            .unwrap();
        drop(svc.clone().oneshot(req).await.unwrap());
    }
    let text = render(&registry);
    let routes = label_values(
        &text,
        "http_server_request_duration_seconds_count",
        "http_route",
    );
    assert_eq!(routes.len(), 21);
    assert!(routes.contains(OVERFLOW_ROUTE));
    assert_eq!(
        sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[r#"http_route="_OTHER""#]
        ),
        Some(980.0)
    );
}

#[derive(Debug)]
struct UpstreamDown;

#[tokio::test]
async fn a_service_error_is_recorded_with_its_type() {
    let clock = FakeClock::new();
    let mut registry = Registry::default();
    let layer = HttpMetricsLayer::builder()
        .route_classifier(|_: &Request<Full<Bytes>>| Some("/api"))
        .clock(clock.clone())
        .build(&mut registry)
        .unwrap();
    let c = clock.clone();
    let svc = layer.layer(service_fn(move |_req: Request<Full<Bytes>>| {
        c.advance(Duration::from_millis(5));
        async { Err::<Response<Full<Bytes>>, _>(UpstreamDown) }
    }));
    let req = Request::post("/api").body(Full::default()).unwrap();
    assert!(svc.oneshot(req).await.is_err());
    let text = render(&registry);
    let labels = [
        r#"http_request_method="POST""#,
        r#"http_route="/api""#,
        r#"error_type="UpstreamDown""#,
    ];
    assert_eq!(
        sample(&text, "http_server_request_duration_seconds_sum", &labels),
        Some(0.005)
    );
    assert!(!text.contains("http_response_status_code"));
}

#[tokio::test]
async fn a_cancelled_request_only_leaves_the_active_gauge() {
    let mut registry = Registry::default();
    let layer = HttpMetricsLayer::new(&mut registry);
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        std::future::pending::<Result<Response<Full<Bytes>>, Infallible>>().await
    }));
    let mut svc = svc;
    let future = svc.call(Request::new(Full::default()));
    let text = render(&registry);
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(1.0)
    );
    drop(future);
    let text = render(&registry);
    assert_eq!(
        sample(
            &text,
            "http_server_active_requests",
            &[r#"http_request_method="GET""#]
        ),
        Some(0.0)
    );
    assert!(!text.contains("http_server_request_duration_seconds_count{"));
}

#[tokio::test]
async fn body_sizes_count_content_length_and_bytes_sent() {
    let mut registry = Registry::default();
    let layer = HttpMetricsLayer::builder()
        .route_classifier(|_: &Request<Full<Bytes>>| Some("/upload"))
        .body_sizes(true)
        .build(&mut registry)
        .unwrap();
    let svc = layer.layer(service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(vec![b'x'; 300]))))
    }));
    let req = Request::put("/upload")
        .body(Full::new(Bytes::from(vec![0u8; 5000])))
        .unwrap();
    let response = svc.oneshot(req).await.unwrap();
    assert_eq!(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len(),
        300
    );
    let text = render(&registry);
    let labels = [r#"http_route="/upload""#];
    assert_eq!(
        sample(&text, "http_server_request_body_size_bytes_sum", &labels),
        Some(5000.0)
    );
    assert_eq!(
        sample(&text, "http_server_response_body_size_bytes_sum", &labels),
        Some(300.0)
    );
}

#[test]
fn invalid_buckets_are_rejected_naming_the_setting() {
    let mut registry = Registry::default();
    let err = HttpMetricsLayer::builder()
        .duration_buckets([0.1, 0.05])
        .build(&mut registry)
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
    let err = HttpMetricsLayer::builder()
        .body_size_buckets([f64::NAN])
        .build(&mut registry)
        .unwrap_err();
    assert_eq!(err.field(), "body_size_buckets");
    let err = HttpMetricsLayer::builder()
        .duration_buckets([])
        .build(&mut registry)
        .unwrap_err();
    assert_eq!(err.field(), "duration_buckets");
}
