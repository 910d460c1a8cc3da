//! `ztd bench devices`: the device side under load against a running server (`bench/devices.sh` starts one):
//! joins, PRT requests, PRT-authenticated token requests, nonces, MDM enrollments and management sessions per
//! second, each with the server's CPU per operation, against `GET /health` over the same HTTPS client in the
//! same run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use ztd_device::mdm::{CspTree, EnrollCredential, EnrollOptions, Hardware, MdmEnrollment};
use ztd_device::{DeviceClient, DeviceKeys, Kdf};

use super::client::{Client, ConnectArgs};

/// Commands the driver queues before each measured management session; with the inventory `Get` the
/// server adds at the start of every session, a session carries [`SESSION_COMMANDS`].
const QUEUED_PER_SESSION: usize = 19;
/// Commands one measured management session carries.
const SESSION_COMMANDS: u32 = QUEUED_PER_SESSION as u32 + 1;
/// Enrolled devices per in-flight session: each round of the session measurement holds one session per
/// device, so the round's tail (fewer sessions in flight) is a small part of it.
const SESSION_DEVICES_PER_SLOT: usize = 8;

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
    /// Measure only this operation (besides health): nonce, join, token, prt, enroll (MDM enrollment) or
    /// session (an MDM management session carrying 20 commands).
    #[arg(long, value_parser = ["nonce", "join", "token", "prt", "enroll", "session"])]
    only: Option<String>,
    /// The credentials file `ztd serve` wrote (its administrator app queues the commands of the session
    /// measurement through `/ztd/v1/managedDevices/{id}/commands`); needed to measure sessions.
    #[arg(long, value_name = "FILE")]
    credentials: Option<std::path::PathBuf>,
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

/// What one measurement window saw: each operation's latency, the window's length, the server's CPU in
/// it. Windows add up (the session measurement is made of rounds, with work between them left out).
#[derive(Default)]
struct Window {
    latencies: Vec<f64>,
    seconds: f64,
    ticks: u64,
    errors: usize,
}

impl Window {
    fn add(&mut self, other: Window) {
        self.latencies.extend(other.latencies);
        self.seconds += other.seconds;
        self.ticks += other.ticks;
        self.errors += other.errors;
    }

    fn measured(mut self, name: &str) -> Measured {
        self.latencies.sort_by(|a, b| a.total_cmp(b));
        let latencies = &self.latencies;
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        let done = latencies.len();
        Measured {
            operation: name.to_string(),
            count: done,
            per_second: done as f64 / self.seconds.max(1e-9),
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            server_cpu_us_per_op: self.ticks as f64 / clock_ticks_per_second() / done.max(1) as f64
                * 1e6,
            errors: self.errors,
        }
    }
}

/// Runs `op` `count` times (at most `plan.seconds` long) with `plan.concurrency` in flight.
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
    let limit = Duration::from_secs(plan.seconds);
    Ok(window(plan, count, limit, Arc::new(op))
        .await?
        .measured(name))
}

/// One window: `op` for 0..`count` (stopping after `limit`), the server's CPU read around it.
async fn window<F, Fut>(
    plan: &DevicePlan,
    count: usize,
    limit: Duration,
    op: Arc<F>,
) -> anyhow::Result<Window>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
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
                if let Err(e) = op(n).await {
                    if errors.fetch_add(1, Ordering::SeqCst) == 0 {
                        eprintln!("first error: {e:#}");
                    }
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
    Ok(Window {
        latencies,
        seconds,
        ticks: after.saturating_sub(before),
        errors: errors.load(Ordering::SeqCst),
    })
}

/// The enrollment options of a new device (a fresh device id, so each enrollment creates a managed device).
fn enroll_options(user: &str, password: &str, n: usize) -> EnrollOptions {
    let device_id = super::device_mdm::new_device_id();
    EnrollOptions {
        credential: EnrollCredential::Password {
            upn: user.to_string(),
            password: password.to_string(),
        },
        enrollment_type: "Full".into(),
        hw_dev_id: format!("{:0>64}", device_id.replace('-', "")),
        device_id,
        device_name: format!("BENCH-MDM-{n:06}"),
        not_in_oobe: true,
        autopilot_correlator: None,
        domain_name: None,
        enrollment_data: None,
    }
}

/// Discovery by the user's domain, the policy, the enrollment: what one Windows device's MDM-only
/// enrollment costs the server.
async fn enroll_one(
    c: &DeviceClient,
    user: &str,
    password: &str,
    keys: &DeviceKeys,
    n: usize,
) -> anyhow::Result<MdmEnrollment> {
    let discovered = c.mdm_discover(user).await?;
    Ok(c.mdm_enroll_with_keys(
        Some(&discovered.policy_service_url),
        &discovered.enrollment_service_url,
        &enroll_options(user, password, n),
        keys,
    )
    .await?)
}

/// The 19 commands queued before session `round` of a device: Replace of ten policy nodes (new values each
/// round) and nine Gets of device details, all of which a Windows CSP tree answers 200.
fn queued_commands(round: usize) -> Vec<Value> {
    const GETS: [&str; 9] = [
        "./DevDetail/SwV",
        "./DevDetail/FwV",
        "./DevDetail/Ext/Microsoft/DeviceName",
        "./DevDetail/Ext/Microsoft/OSPlatform",
        "./DevDetail/Ext/Microsoft/SMBIOSSerialNumber",
        "./DevDetail/Ext/Microsoft/TotalRAM",
        "./DevInfo/Man",
        "./DevInfo/Mod",
        "./Vendor/MSFT/DeviceStatus/SecureBootState",
    ];
    let replaces = (0..QUEUED_PER_SESSION - GETS.len()).map(|k| {
        json!({"kind": "Single", "operations": {"verb": "Replace", "items": [{
            "target": format!("./Device/Vendor/MSFT/Policy/Config/Bench/Setting{k}"),
            "format": "int",
            "data": (round + k).to_string(),
        }]}})
    });
    let gets = GETS.iter().map(|target| {
        json!({"kind": "Single", "operations": {"verb": "Get", "items": [{"target": target}]}})
    });
    replaces.chain(gets).collect()
}

/// Management sessions of 20 commands each: rounds of one session per enrolled device. Before each round
/// (outside the measured window, the server's CPU not counted) the driver queues 19 commands per device
/// through ztd's API; the server adds the inventory `Get` itself.
async fn measure_sessions(
    plan: &DevicePlan,
    client: &Arc<DeviceClient>,
    keys: &DeviceKeys,
) -> anyhow::Result<Measured> {
    let credentials = plan.credentials.clone().context(
        "measuring sessions queues commands as the administrator: pass --credentials (the credentials file `ztd serve` wrote)",
    )?;
    let admin = Client::connect_with(&ConnectArgs {
        server: Some(plan.server.clone()),
        credentials,
        tenant_id: None,
        client_id: None,
        client_secret: None,
        ca_cert: Some(plan.ca_cert.clone()),
    })
    .await
    .context("signing in as the administrator to queue commands")?;
    let count = plan.operations;
    let devices = (plan.concurrency * SESSION_DEVICES_PER_SLOT).clamp(1, count.max(1));
    let mut enrolled = Vec::with_capacity(devices);
    let mut ids = Vec::with_capacity(devices);
    for n in 0..devices {
        let mut e = enroll_one(client, &plan.user, &plan.password, keys, n)
            .await
            .context("enrolling the devices of the session measurement")?;
        let hardware = Hardware::lab(&format!("BENCH-MDM-{n:06}"), &format!("BENCH-SN-{n:06}"));
        let mut tree = CspTree::windows(&hardware, &e.device_id, &e.provider_id);
        // The first session reads the inventory only; the measured ones follow.
        client.mdm_session(&mut e, &mut tree, "user").await?;
        ids.push(e.managed_device_id.clone());
        enrolled.push(tokio::sync::Mutex::new((e, tree)));
    }
    let enrolled = Arc::new(enrolled);
    let limit = Duration::from_secs(plan.seconds);
    let mut total = Window::default();
    let mut round = 0usize;
    while total.latencies.len() < count && total.seconds < limit.as_secs_f64() {
        let in_round = devices.min(count - total.latencies.len());
        // Queued outside the measured window.
        let posts = ids[..in_round]
            .iter()
            .flat_map(|id| queued_commands(round).into_iter().map(move |c| (id, c)));
        let admin = &admin;
        let queued: Vec<anyhow::Result<Value>> = futures::stream::iter(posts)
            .map(|(id, command)| async move {
                admin
                    .post::<_, Value>(
                        &format!("/ztd/v1/managedDevices/{id}/commands"),
                        &json!({ "command": command }),
                    )
                    .await
            })
            .buffer_unordered(plan.concurrency.max(1))
            .collect()
            .await;
        for result in queued {
            result.context("queueing a command")?;
        }
        let (c, devices_ref) = (client.clone(), enrolled.clone());
        let op = Arc::new(move |d: usize| {
            let (c, enrolled) = (c.clone(), devices_ref.clone());
            async move {
                let mut guard = enrolled[d].lock().await;
                let (e, tree) = &mut *guard;
                let report = c.mdm_session(e, tree, "user").await?;
                anyhow::ensure!(!report.refused, "the session was refused");
                anyhow::ensure!(
                    report.commands == SESSION_COMMANDS
                        && report.statuses.iter().all(|(_, _, code)| *code == 200),
                    "the session carried {} commands ({} statuses, not all 200), not {SESSION_COMMANDS}",
                    report.commands,
                    report.statuses.len()
                );
                Ok(())
            }
        });
        let left = limit.saturating_sub(Duration::from_secs_f64(total.seconds));
        total.add(window(plan, in_round, left, op).await?);
        round += 1;
    }
    Ok(total.measured("MDM session (20 commands)"))
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
    if wanted("enroll") {
        let (c, keys) = (client.clone(), keys.clone());
        let (user, password) = (plan.user.clone(), plan.password.clone());
        // Two password sign-ins each (the policy and the enrollment service authenticate): fewer of them.
        let count = plan.operations / 4;
        results.push(
            measure(
                "MDM enrollment (discovery + policy + enrollment, password)",
                &plan,
                count,
                move |n| {
                    let (c, keys) = (c.clone(), keys.clone());
                    let (user, password) = (user.clone(), password.clone());
                    async move { enroll_one(&c, &user, &password, &keys, n).await.map(drop) }
                },
            )
            .await?,
        );
    }
    if wanted("session") {
        results.push(measure_sessions(&plan, &client, &keys).await?);
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
