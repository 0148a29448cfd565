//! `gatewatch loadgen`: a fixed request rate through a gateway, for demos and benches. Only
//! loopback targets are accepted (load never leaves the machine).

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Requests per second to send.
    #[arg(long, default_value_t = 100)]
    rps: u32,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Target URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080/demo/hello")]
    url: String,
    /// Requests in flight at most; a tick finding none free is counted as skipped.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
}

/// Checks the arguments before anything runs (a bad one is a usage error: exit 2).
pub fn check(args: &Args) -> anyhow::Result<hyper::Uri> {
    let uri: hyper::Uri = args
        .url
        .parse()
        .with_context(|| format!("--url {:?}", args.url))?;
    let host = uri.host().unwrap_or("");
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") {
        bail!(
            "--url {:?}: loadgen only sends to loopback (127.0.0.1, ::1, localhost)",
            args.url
        );
    }
    if args.rps == 0 || args.duration == 0 {
        bail!("--rps and --duration must be greater than 0");
    }
    Ok(uri)
}

pub async fn run(args: Args, uri: hyper::Uri) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http::<Empty<Bytes>>();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let results: Arc<Mutex<Vec<(u16, u32)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut skipped = 0u64;
    let period = Duration::from_secs_f64(1.0 / args.rps as f64);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    while Instant::now() < end {
        tick.tick().await;
        let Ok(permit) = sem.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let client = client.clone();
        let uri = uri.clone();
        let results = results.clone();
        tasks.spawn(async move {
            let t0 = Instant::now();
            let status = match client.get(uri).await {
                Ok(resp) => {
                    let s = resp.status().as_u16();
                    let _ = resp.into_body().collect().await;
                    s
                }
                Err(_) => 0,
            };
            let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
            results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((status, us));
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed().as_secs_f64();
    let mut r = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    r.sort_by_key(|&(_, us)| us);
    let sent = r.len();
    let failed = r.iter().filter(|(s, _)| *s == 0).count();
    let by_class = |c: u16| r.iter().filter(|(s, _)| s / 100 == c).count();
    let pct = |p: f64| -> f64 {
        if r.is_empty() {
            0.0
        } else {
            r[((r.len() as f64 * p) as usize).min(r.len() - 1)].1 as f64 / 1000.0
        }
    };
    println!(
        "sent {sent} in {elapsed:.1}s ({:.0}/s): 2xx {} 3xx {} 4xx {} 5xx {} failed {failed} skipped {skipped}; latency ms p50 {:.2} p99 {:.2} max {:.2}",
        sent as f64 / elapsed,
        by_class(2),
        by_class(3),
        by_class(4),
        by_class(5),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
