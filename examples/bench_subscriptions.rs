//! Benchmark of live progress: many subscribers on ONE API process watching one notification
//! of 100,000 attendees being sent by a separate worker process to Postfix's smtp-sink on
//! PostgreSQL, next to the same send with no subscribers, in the same run.
//!
//! ```sh
//! cargo build --release --bin techconf
//! cargo run --release --example bench_subscriptions                   # 100,000 attendees; 0, 1,000, 10,000 subscribers
//! cargo run --release --example bench_subscriptions -- 20000 0,500     # attendees, subscriber counts
//! ```
//!
//! For each subscriber count: a fresh conference of N attendees, a notification created while
//! no worker runs, every subscriber connected (`graphql-transport-ws`) and holding its first
//! snapshot, then the worker started. Reports the latency from the commit of a progress
//! update (its `updatedAt`, written in the committing transaction) to its arrival at each
//! subscriber (p50 and p99 of the events during the send, where events that carry no new
//! commit, only a refreshed rate, are not samples; separately of each subscriber's first
//! event after its snapshot, the plan's, and of the final event, which
//! reaches every subscriber at once), the API process's peak RSS, and the fan-out throughput from the
//! notification's `startedAt` to its `completedAt`. Needs `smtp-sink` (Postfix) and PostgreSQL
//! (`TEST_POSTGRES_URL`). Results are recorded in docs/BENCHMARKS.md.
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use testkit::TestDatabase;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const TOKEN: &str = "bench-admin-token-0123456789";
/// WebSocket handshakes in flight at once while subscribers connect.
const CONNECTING_AT_ONCE: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let attendees: u32 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let counts: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "0,1000,10000".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let bin = std::env::var("TECHCONF_BIN").unwrap_or_else(|_| "target/release/techconf".into());
    if !std::path::Path::new(&bin).exists() {
        bail!("{bin} is missing: run `cargo build --release --bin techconf` first");
    }

    let database = TestDatabase::postgres().await;
    let db = database.connect().await;
    let sink_port = free_port()?;
    let api_port = free_port()?;
    let mut sink = Command::new("smtp-sink")
        .args(sink_user())
        .arg(format!("127.0.0.1:{sink_port}"))
        .arg("1024")
        .spawn()
        .context("starting smtp-sink (apt package postfix)")?;
    let env = [
        ("DATABASE_URL", database.url().to_owned()),
        ("MAIL_URL", format!("smtp://127.0.0.1:{sink_port}")),
        ("TECHCONF_ADMIN_TOKEN", TOKEN.to_owned()),
        ("TECHCONF_LISTEN", format!("127.0.0.1:{api_port}")),
        ("RUST_LOG", "warn".to_owned()),
        // Every subscriber connects with the one admin token: the per-token socket limit is
        // raised to the largest count measured, as an operator serving that many would.
        (
            "WS_MAX_CONNECTIONS_PER_TOKEN",
            (counts.iter().max().copied().unwrap_or(0) + 10).to_string(),
        ),
    ];
    let status = Command::new(&bin)
        .arg("migrate")
        .envs(env.clone())
        .status()?;
    if !status.success() {
        bail!("techconf migrate failed");
    }
    let mut api = Command::new(&bin)
        .arg("serve")
        .envs(env.clone())
        .stdout(Stdio::null())
        .spawn()?;
    let address = format!("http://127.0.0.1:{api_port}");
    let client = reqwest::Client::new();
    wait_until_healthy(&client, &address).await?;

    println!(
        "{attendees} attendees; one API process (pid {}), one worker process; smtp-sink on loopback",
        api.id()
    );
    println!(
        "{:>11} | {:>9} {:>9} | {:>8} {:>7} {:>7} | {:>9} {:>9} | {:>8} | {:>8} {:>9} | {:>7} {:>9} | load avg",
        "subscribers",
        "first p50",
        "first p99",
        "events",
        "p50 ms",
        "p99 ms",
        "final p50",
        "final p99",
        "peak RSS",
        "emails/s",
        "vs 0 subs",
        "API cpu",
        "bench cpu",
    );
    let mut baseline = None;
    for count in counts {
        let result = run(
            &db,
            &client,
            &address,
            &bin,
            &env,
            api.id(),
            attendees,
            count,
        )
        .await?;
        let ratio = baseline.map(|b: f64| result.throughput / b);
        if count == 0 {
            baseline = Some(result.throughput);
        }
        let ms = |d: Option<f64>| d.map_or("-".into(), |v| format!("{v:.1}"));
        println!(
            "{:>11} | {:>9} {:>9} | {:>8} {:>7} {:>7} | {:>9} {:>9} | {:>5.0} MB | {:>8.0} {:>9} | {:>6.1}s {:>8.1}s | {}",
            count,
            ms(percentile(&result.firsts, 0.50)),
            ms(percentile(&result.firsts, 0.99)),
            result.latencies.len(),
            ms(percentile(&result.latencies, 0.50)),
            ms(percentile(&result.latencies, 0.99)),
            ms(percentile(&result.finals, 0.50)),
            ms(percentile(&result.finals, 0.99)),
            result.peak_rss_mb,
            result.throughput,
            ratio.map_or("-".into(), |r| format!("{r:.3}")),
            result.api_cpu,
            result.client_cpu,
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        );
    }
    let _ = api.kill();
    let _ = sink.kill();
    let _ = api.wait();
    let _ = sink.wait();
    Ok(())
}

struct Outcome {
    /// Commit-to-arrival latency in ms of each subscriber's first event after its snapshot,
    /// sorted. It is the plan's, whose `updatedAt` is written when planning starts, so it
    /// includes planning every delivery (about 2 s for 100,000): reported on its own.
    firsts: Vec<f64>,
    /// The same for the later events during the send, sorted.
    latencies: Vec<f64>,
    /// The same for the final (COMPLETED) event, one per subscriber, sorted.
    finals: Vec<f64>,
    /// CPU seconds used during the send by the API process and by this client.
    api_cpu: f64,
    client_cpu: f64,
    peak_rss_mb: f64,
    throughput: f64,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    db: &DatabaseConnection,
    client: &reqwest::Client,
    address: &str,
    bin: &str,
    env: &[(&str, String)],
    api_pid: u32,
    attendees: u32,
    subscribers: usize,
) -> anyhow::Result<Outcome> {
    let conference = uuid::Uuid::now_v7();
    sql(db, &format!(
        "INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at) \
         VALUES ('{conference}', 'BenchConf', '2027-10-12', 0, '1 Loopback Road', true, now())"
    ))
    .await?;
    sql(
        db,
        &format!(
            "INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, \
             company, city, state, submitted_at) \
         SELECT gen_random_uuid(), '{conference}', 'First' || i, 'Last' || i, \
             'person' || i || '@example.org', 'Engineer', 'Acme', 'Porto', 'PT', now() \
         FROM generate_series(1, {attendees}) AS i"
        ),
    )
    .await?;
    let answer: Value = client
        .post(format!("{address}/graphql"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "query": "mutation($c: ID!) { createNotification(input: {conferenceId: $c, \
                subject: \"Hello {{ first_name }}\", message: \"See you, {{ first_name }}.\"}) { id } }",
            "variables": {"c": conference.to_string()},
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = answer["data"]["createNotification"]["id"]
        .as_str()
        .with_context(|| format!("createNotification: {answer}"))?
        .to_owned();

    // Every subscriber connected and holding its snapshot before the worker starts.
    let ws_url = format!("{}/graphql/ws", address.replacen("http", "ws", 1));
    let gate = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    // Each subscriber says once whether it holds its snapshot; one that failed first says
    // why, so a refused connection stops the run instead of leaving it waiting.
    let (ready_tx, mut ready_rx) =
        tokio::sync::mpsc::channel::<Result<(), String>>(subscribers.max(1));
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (url, id, gate, ready) = (ws_url.clone(), id.clone(), gate.clone(), ready_tx.clone());
        tasks.push(tokio::spawn(async move {
            let ready_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let outcome = subscribe(&url, &id, &gate, ready.clone(), ready_flag.clone()).await;
            if let Err(err) = &outcome
                && !ready_flag.load(std::sync::atomic::Ordering::Relaxed)
            {
                let _ = ready.send(Err(format!("{err:#}"))).await;
            }
            outcome
        }));
    }
    drop(ready_tx);
    for _ in 0..subscribers {
        ready_rx
            .recv()
            .await
            .context("the subscribers stopped before all were ready")?
            .map_err(|err| anyhow::anyhow!("a subscriber failed before its snapshot: {err}"))?;
    }

    let peak = Arc::new(std::sync::Mutex::new(current_rss(api_pid)));
    let sampler = tokio::spawn(sample_rss(api_pid, peak.clone()));
    let (api_cpu_before, client_cpu_before) =
        (cpu_seconds(api_pid), cpu_seconds(std::process::id()));
    let mut worker = Command::new(bin)
        .arg("worker")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .spawn()?;
    let (started, completed) = wait_for_completion(db, &id).await?;
    let mut firsts = Vec::new();
    let mut latencies = Vec::new();
    let mut finals = Vec::new();
    for task in tasks {
        let (during, last) = task.await??;
        let (first, later) = during.split_at(during.len().min(1));
        firsts.extend(first);
        latencies.extend(later);
        finals.extend(last);
    }
    sampler.abort();
    let peak_rss_mb = peak.lock().map_or(0.0, |p| *p).max(current_rss(api_pid));
    let api_cpu = cpu_seconds(api_pid) - api_cpu_before;
    let client_cpu = cpu_seconds(std::process::id()) - client_cpu_before;
    stop(&mut worker);
    firsts.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    finals.sort_by(f64::total_cmp);
    let seconds = (completed - started).as_seconds_f64();
    Ok(Outcome {
        firsts,
        latencies,
        finals,
        api_cpu,
        client_cpu,
        peak_rss_mb,
        throughput: f64::from(attendees) / seconds,
    })
}

/// One subscriber: connects, subscribes, reports ready on its snapshot, then records each
/// later event's commit-to-arrival latency until the stream completes.
async fn subscribe(
    url: &str,
    id: &str,
    gate: &Semaphore,
    ready: tokio::sync::mpsc::Sender<Result<(), String>>,
    ready_flag: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<(Vec<f64>, Option<f64>)> {
    let permit = gate.acquire().await?;
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), false).await?;
    let init =
        json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {TOKEN}")}});
    socket.send(Message::text(init.to_string())).await?;
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($id: ID!) { notificationProgress(id: $id) { status sent updatedAt } }",
        "variables": {"id": id},
    }});
    socket.send(Message::text(subscribe.to_string())).await?;
    let mut latencies = Vec::new();
    let mut final_latency = None;
    let mut first = true;
    let mut last_commit: Option<DateTime<Utc>> = None;
    let mut permit = Some(permit);
    while let Some(message) = socket.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let arrived = Utc::now();
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("next") => {
                if first {
                    first = false;
                    last_commit = value["payload"]["data"]["notificationProgress"]["updatedAt"]
                        .as_str()
                        .and_then(|t| t.parse().ok());
                    drop(permit.take());
                    ready_flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    ready.send(Ok(())).await?;
                    continue;
                }
                let updated: DateTime<Utc> =
                    value["payload"]["data"]["notificationProgress"]["updatedAt"]
                        .as_str()
                        .context("an event without updatedAt")?
                        .parse()?;
                // Events that only refresh the rate carry an older commit: not a delivery
                // of a new commit, so not a latency sample.
                let latency = (arrived - updated).as_seconds_f64() * 1000.0;
                let status = &value["payload"]["data"]["notificationProgress"]["status"];
                if status == "COMPLETED" || status == "COMPLETED_WITH_ERRORS" {
                    final_latency = Some(latency);
                } else if last_commit != Some(updated) {
                    latencies.push(latency);
                }
                last_commit = Some(updated);
            }
            Some("complete") => break,
            Some("error") => bail!("subscription error: {value}"),
            // The server closes connections that do not answer its pings.
            Some("ping") => {
                socket
                    .send(Message::text(json!({"type": "pong"}).to_string()))
                    .await?
            }
            _ => {}
        }
    }
    let _ = socket.close(None).await;
    if first {
        bail!("the server closed the connection before the first event");
    }
    Ok((latencies, final_latency))
}

async fn wait_for_completion(
    db: &DatabaseConnection,
    id: &str,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT started_at, completed_at FROM notification WHERE id = '{id}'"),
            ))
            .await?
            .context("the notification vanished")?;
        let started: Option<DateTime<Utc>> = row.try_get("", "started_at")?;
        let completed: Option<DateTime<Utc>> = row.try_get("", "completed_at")?;
        if let (Some(started), Some(completed)) = (started, completed) {
            return Ok((started, completed));
        }
        if Instant::now() > deadline {
            bail!("the notification did not complete within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Keeps the highest RSS of `pid` seen, every 100 ms, until aborted.
async fn sample_rss(pid: u32, peak: Arc<std::sync::Mutex<f64>>) {
    loop {
        let now = current_rss(pid);
        if let Ok(mut peak) = peak.lock() {
            *peak = peak.max(now);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn current_rss(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// User plus system CPU time of `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks_per_second)
        })
        .unwrap_or(0.0)
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied()
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
}

async fn sql(db: &DatabaseConnection, statement: &str) -> anyhow::Result<()> {
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        statement.to_owned(),
    ))
    .await?;
    Ok(())
}

async fn wait_until_healthy(client: &reqwest::Client, address: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the API did not become healthy")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// smtp-sink refuses to run as root without a user to switch to.
fn sink_user() -> Vec<&'static str> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root { vec!["-u", "nobody"] } else { vec![] }
}
