//! `overload`: the overload scenario of the load script
//! (`examples/load/run.sh`, issue 18) over real HTTP: a server whose latency
//! has a knee at 64 requests in flight, offered twice its capacity by an
//! open-loop client whose requests give up after a deadline.
//!
//! ```text
//! overload serve --limiter gradient2|queueing [--addr 127.0.0.1:0] [--workers 64] [--work-ms 10]
//! overload load --url http://HOST:PORT/work --rate 12800 [--timeout-ms 100] [--secs 10] [--warmup-secs 2] [--max-conns 8000]
//! ```
//!
//! - `serve`: `GET /work` takes one of `--workers` slots (a FIFO semaphore)
//!   for `--work-ms`, so capacity is `workers / work` (6,400 requests/s)
//!   and past 64 in flight requests queue: latency grows with the queue
//!   (Little's law). In front of it either `hardening-loadshed`'s
//!   `ConcurrencyLimitLayer` with Gradient2 (`secure_api`'s settings: start
//!   64, 8–512), which refuses at once with `503`, or the queueing baseline,
//!   tower's `ConcurrencyLimitLayer(workers)`, which makes the excess wait
//!   (tower#793).
//! - `load`: sends `--rate` requests per second on a fixed schedule however
//!   the server answers (open loop), over kept-alive HTTP/1.1 connections
//!   (a new one whenever none is idle). A request not answered within
//!   `--timeout-ms` is abandoned and its connection closed, as a client
//!   with a deadline does. Prints one `OVERLOAD` line: goodput (answers
//!   `200` within the deadline per second, after the warm-up), shed (`503`),
//!   late (abandoned) and the admitted latency percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use hardening_loadshed::algorithm::Gradient2;
use hardening_loadshed::ConcurrencyLimitLayer;
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio::task::AbortHandle;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let opts = Opts::parse(args)?;
    match mode.as_str() {
        "serve" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(serve(opts)),
        // One thread: the load generator gets one core of its own.
        "load" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(load(opts)),
        _ => Err("usage: overload serve|load [OPTIONS] (see the source's docs)".into()),
    }
}

/// `--name value` options, each with its default.
struct Opts {
    addr: String,
    limiter: String,
    workers: usize,
    work: Duration,
    url: String,
    rate: f64,
    timeout: Duration,
    secs: f64,
    warmup: f64,
    max_conns: usize,
}

impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, Error> {
        let mut o = Opts {
            addr: "127.0.0.1:0".into(),
            limiter: "gradient2".into(),
            workers: 64,
            work: Duration::from_millis(10),
            url: String::new(),
            rate: 12_800.0,
            timeout: Duration::from_millis(100),
            secs: 10.0,
            warmup: 2.0,
            max_conns: 8000,
        };
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag}: a value"))?;
            match flag.as_str() {
                "--addr" => o.addr = value,
                "--limiter" => o.limiter = value,
                "--workers" => o.workers = num(&flag, &value)?,
                "--work-ms" => o.work = Duration::from_millis(num(&flag, &value)?),
                "--url" => o.url = value,
                "--rate" => o.rate = num(&flag, &value)?,
                "--timeout-ms" => o.timeout = Duration::from_millis(num(&flag, &value)?),
                "--secs" => o.secs = num(&flag, &value)?,
                "--warmup-secs" => o.warmup = num(&flag, &value)?,
                "--max-conns" => o.max_conns = num(&flag, &value)?,
                _ => return Err(format!("unknown option {flag}").into()),
            }
        }
        if o.workers == 0 || o.rate <= 0.0 || o.secs <= o.warmup {
            return Err("--workers and --rate must be positive, --secs above --warmup-secs".into());
        }
        Ok(o)
    }
}

fn num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Error> {
    value
        .parse()
        .map_err(|_| format!("{flag}: bad value {value:?}").into())
}

async fn serve(o: Opts) -> Result<(), Error> {
    let workers = Arc::new(Semaphore::new(o.workers));
    let work = o.work;
    let app = Router::new().route(
        "/work",
        get(move || {
            let workers = workers.clone();
            async move {
                let _worker = workers.acquire().await.expect("never closed");
                tokio::time::sleep(work).await;
                "done"
            }
        }),
    );
    let app = match o.limiter.as_str() {
        "gradient2" => {
            let layer = ConcurrencyLimitLayer::builder()
                .algorithm(
                    Gradient2::builder()
                        .initial_limit(64)
                        .min_limit(8)
                        .max_limit(512)
                        .build()?,
                )
                .build()?;
            let limiter = layer.limiter().clone();
            tokio::spawn(async move {
                // The limit it settles at, for the script's table.
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    println!("limit {}", limiter.limit());
                }
            });
            app.layer(layer)
        }
        "queueing" => app.layer(tower::limit::ConcurrencyLimitLayer::new(o.workers)),
        other => return Err(format!("--limiter {other}: gradient2 or queueing").into()),
    };
    let listener = tokio::net::TcpListener::bind(&o.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// What the load generator counts.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    good: AtomicU64,
    shed: AtomicU64,
    late: AtomicU64,
    other: AtomicU64,
    saturated: AtomicU64,
    connects: AtomicU64,
}

struct Pool {
    idle: Mutex<Vec<(SendRequest<Empty<Bytes>>, AbortHandle)>>,
    open: AtomicU64,
}

impl Pool {
    /// An idle connection the server has not closed.
    fn take_idle(&self) -> Option<(SendRequest<Empty<Bytes>>, AbortHandle)> {
        let mut idle = self.idle.lock().unwrap();
        while let Some((sender, driver)) = idle.pop() {
            if !sender.is_closed() {
                return Some((sender, driver));
            }
            driver.abort();
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
        None
    }
}

async fn load(o: Opts) -> Result<(), Error> {
    let uri: http::Uri = o.url.parse()?;
    let authority = uri
        .authority()
        .ok_or("--url needs a host and port")?
        .clone();
    let host = authority.to_string();
    let counts = Arc::new(Counts::default());
    let pool = Arc::new(Pool {
        idle: Mutex::new(Vec::new()),
        open: AtomicU64::new(0),
    });
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let start = Instant::now();
    let warmup_end = start + Duration::from_secs_f64(o.warmup);
    let end = start + Duration::from_secs_f64(o.secs);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut issued = 0u64;
    loop {
        let now = tick.tick().await;
        if now >= end {
            break;
        }
        let due = ((now - start).as_secs_f64() * o.rate) as u64;
        while issued < due {
            issued += 1;
            let measured = now >= warmup_end;
            if measured {
                counts.sent.fetch_add(1, Ordering::Relaxed);
            }
            let sender = pool.take_idle();
            if sender.is_none() && pool.open.load(Ordering::Relaxed) >= o.max_conns as u64 {
                if measured {
                    counts.saturated.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            let (pool, counts, latencies) = (pool.clone(), counts.clone(), latencies.clone());
            let (uri, host, timeout) = (uri.clone(), host.clone(), o.timeout);
            tokio::spawn(async move {
                let sent_at = Instant::now();
                let deadline = sent_at + timeout;
                let outcome =
                    tokio::time::timeout_at(deadline, request(&pool, &counts, sender, &host, uri))
                        .await;
                let took = sent_at.elapsed();
                if !measured {
                    return;
                }
                match outcome {
                    // Answered in time by the server but seen late here (the
                    // generator's own scheduling) is late all the same.
                    Ok(Ok(_)) if took > timeout => _ = counts.late.fetch_add(1, Ordering::Relaxed),
                    Ok(Ok(200)) => {
                        counts.good.fetch_add(1, Ordering::Relaxed);
                        latencies.lock().unwrap().push(took.as_micros() as u32);
                    }
                    Ok(Ok(503)) => _ = counts.shed.fetch_add(1, Ordering::Relaxed),
                    Ok(_) => _ = counts.other.fetch_add(1, Ordering::Relaxed),
                    Err(_) => _ = counts.late.fetch_add(1, Ordering::Relaxed),
                }
            });
        }
    }
    // Requests still out are late by now.
    tokio::time::sleep(o.timeout).await;
    let secs = o.secs - o.warmup;
    let good = counts.good.load(Ordering::Relaxed);
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |p: usize| {
        lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    println!(
        "OVERLOAD offered={:.0}/s goodput={:.0}/s sent={} good={} shed={} late={} other={} saturated={} connects={} ok_p50={:.1}ms ok_p99={:.1}ms",
        o.rate,
        good as f64 / secs,
        counts.sent.load(Ordering::Relaxed),
        good,
        counts.shed.load(Ordering::Relaxed),
        counts.late.load(Ordering::Relaxed),
        counts.other.load(Ordering::Relaxed),
        counts.saturated.load(Ordering::Relaxed),
        counts.connects.load(Ordering::Relaxed),
        pct(50),
        pct(99),
    );
    Ok(())
}

/// One request on an idle connection or a new one; the connection goes
/// back to the pool once the response is read. Cancelled (the deadline),
/// the connection is closed: `Slot` aborts its driver on drop.
async fn request(
    pool: &Arc<Pool>,
    counts: &Counts,
    sender: Option<(SendRequest<Empty<Bytes>>, AbortHandle)>,
    host: &str,
    uri: http::Uri,
) -> Result<u16, Error> {
    let mut slot = match sender {
        Some((sender, driver)) => Slot::new(pool, sender, driver),
        None => {
            counts.connects.fetch_add(1, Ordering::Relaxed);
            pool.open.fetch_add(1, Ordering::Relaxed);
            let guard = OpenGuard(pool.clone());
            let stream = tokio::net::TcpStream::connect(host).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            let driver = tokio::spawn(async move {
                let _ = conn.await;
            })
            .abort_handle();
            std::mem::forget(guard); // the slot owns the count from here
            Slot::new(pool, sender, driver)
        }
    };
    let sender = slot.sender.as_mut().expect("set until returned");
    sender.ready().await?;
    let req = http::Request::get(uri)
        .header(http::header::HOST, host)
        .body(Empty::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    res.into_body().collect().await?;
    slot.give_back();
    Ok(status)
}

/// Un-counts a connection whose connect failed or was cancelled.
struct OpenGuard(Arc<Pool>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection in use: back to the pool when done, closed when dropped.
struct Slot {
    pool: Arc<Pool>,
    sender: Option<SendRequest<Empty<Bytes>>>,
    driver: AbortHandle,
}

impl Slot {
    fn new(pool: &Arc<Pool>, sender: SendRequest<Empty<Bytes>>, driver: AbortHandle) -> Self {
        Slot {
            pool: pool.clone(),
            sender: Some(sender),
            driver,
        }
    }

    fn give_back(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool
                .idle
                .lock()
                .unwrap()
                .push((sender, self.driver.clone()));
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.sender.is_some() {
            self.driver.abort();
            self.pool.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
