//! `ztd bench devices`: the device side under load against a running server (`bench/devices.sh` starts one):
//! joins, PRT requests, PRT-authenticated token requests and nonces per second, each with the server's CPU
//! per operation, against `GET /health` over the same HTTPS client in the same run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use ztd_device::{DeviceClient, DeviceKeys, Kdf};

/// What to measure and where.
#[derive(Debug, clap::Args)]
pub struct DevicePlan {
    /// The server's base URL (https).
    #[arg(long)]
    server: String,
    /// The lab root to trust.
    #[arg(long, value_name = "PEM")]
    ca_cert: std::path::PathBuf,
    /// A user of the tenant (name@domain) and its password.
    #[arg(long)]
    user: String,
    #[arg(long, env = "ZTD_DEVICE_PASSWORD", hide_env_values = true)]
    password: String,
    /// The server's process id: its CPU time is read from /proc around each measurement.
    #[arg(long)]
    server_pid: u32,
    /// Operations per measurement (each measurement also stops after --seconds).
    #[arg(long, default_value_t = 2_000)]
    operations: usize,
    /// Longest time per measurement.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measure only this operation (besides health): nonce, join, token or prt.
    #[arg(long, value_parser = ["nonce", "join", "token", "prt"])]
    only: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Measured {
    operation: String,
    count: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_cpu_us_per_op: f64,
    errors: usize,
}

fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid}"))?;
    // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(tick(11) + tick(12))
}

fn clock_ticks_per_second() -> f64 {
    // Linux's USER_HZ is 100 on every architecture ztd runs on.
    100.0
}

/// Runs `op` `count` times (at most `limit` long) with `concurrency` in flight.
async fn measure<F, Fut>(
    name: &str,
    plan: &DevicePlan,
    count: usize,
    op: F,
) -> anyhow::Result<Measured>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(plan.seconds);
    let before = cpu_ticks(plan.server_pid)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..plan.concurrency {
        let (op, next, errors) = (op.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= count || Instant::now() >= deadline {
                    break;
                }
                let at = Instant::now();
                if op(n).await.is_err() {
                    errors.fetch_add(1, Ordering::SeqCst);
                }
                latencies.push(at.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = cpu_ticks(plan.server_pid)?;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    let done = latencies.len();
    Ok(Measured {
        operation: name.to_string(),
        count: done,
        per_second: done as f64 / seconds,
        p50_ms: pick(0.5),
        p99_ms: pick(0.99),
        server_cpu_us_per_op: (after - before) as f64
            / clock_ticks_per_second()
            / done.max(1) as f64
            * 1e6,
        errors: errors.load(Ordering::SeqCst),
    })
}

pub async fn run(plan: DevicePlan) -> anyhow::Result<()> {
    let ca = std::fs::read(&plan.ca_cert)
        .with_context(|| format!("cannot read {}", plan.ca_cert.display()))?;
    let tenant = plan
        .user
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .context("--user is name@domain")?;
    let client = Arc::new(DeviceClient::new(&plan.server, &tenant, Some(&ca))?);
    let drs = Arc::new(
        client
            .user_token(&plan.user, &plan.password, ztd_device::DRS_RESOURCE)
            .await?,
    );
    // Keys are made once: the server's work per join does not depend on them.
    let keys = Arc::new(DeviceKeys::generate()?);
    let identity = Arc::new(
        client
            .join_with_keys(&drs, "BENCH-PRT", 0, None, &keys)
            .await?,
    );
    let prt = Arc::new(
        client
            .request_prt(&identity, &plan.user, &plan.password)
            .await?,
    );
    let wanted = |op: &str| plan.only.as_deref().is_none_or(|only| only == op);
    let mut results = Vec::new();
    let c = client.clone();
    // /health costs tens of µs: ten times as many calls, so its CPU spans many clock ticks (10 ms each).
    results.push(
        measure("health", &plan, plan.operations * 10, move |_| {
            let c = c.clone();
            async move { Ok(c.health().await?) }
        })
        .await?,
    );
    if wanted("nonce") {
        let c = client.clone();
        results.push(
            measure(
                "srv_challenge nonce",
                &plan,
                plan.operations * 10,
                move |_| {
                    let c = c.clone();
                    async move { c.nonce().await.map(drop).map_err(Into::into) }
                },
            )
            .await?,
        );
    }
    if wanted("join") {
        let (c, drs, keys) = (client.clone(), drs.clone(), keys.clone());
        results.push(
            measure("join", &plan, plan.operations, move |n| {
                let (c, drs, keys) = (c.clone(), drs.clone(), keys.clone());
                async move {
                    let name = format!("BENCH-{n:06}");
                    c.join_with_keys(&drs, &name, 0, None, &keys)
                        .await
                        .map(drop)
                        .map_err(Into::into)
                }
            })
            .await?,
        );
    }
    if wanted("token") {
        let (c, identity, prt) = (client.clone(), identity.clone(), prt.clone());
        let name = "token through the PRT (nonce + request)";
        results.push(
            measure(name, &plan, plan.operations, move |_| {
                let (c, identity, prt) = (c.clone(), identity.clone(), prt.clone());
                async move {
                    let graph = "https://graph.microsoft.com";
                    let client_id = "1b730954-1685-4b74-9bfd-dac224a7b894";
                    c.prt_tokens(&identity, &prt, client_id, graph, Kdf::V2)
                        .await
                        .map(drop)
                        .map_err(Into::into)
                }
            })
            .await?,
        );
    }
    if wanted("prt") {
        let (c, identity) = (client.clone(), identity.clone());
        let (user, password) = (plan.user.clone(), plan.password.clone());
        // Each is a password sign-in (argon2id, at most two at once on the server): fewer of them.
        let count = plan.operations / 4;
        results.push(
            measure("PRT request (nonce + password)", &plan, count, move |_| {
                let (c, identity) = (c.clone(), identity.clone());
                let (user, password) = (user.clone(), password.clone());
                async move {
                    c.request_prt(&identity, &user, &password)
                        .await
                        .map(drop)
                        .map_err(Into::into)
                }
            })
            .await?,
        );
    }
    if plan.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    let health = &results[0];
    println!("| operation | count | per s | × health per s | p50 ms | p99 ms | server CPU µs/op | × health CPU | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &results {
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.2} | {:.2} | {:.0} | {:.1} | {} |",
            r.operation,
            r.count,
            r.per_second,
            r.per_second / health.per_second,
            r.p50_ms,
            r.p99_ms,
            r.server_cpu_us_per_op,
            r.server_cpu_us_per_op / health.server_cpu_us_per_op.max(0.001),
            r.errors
        );
    }
    Ok(())
}
