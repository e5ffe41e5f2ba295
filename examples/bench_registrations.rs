//! Load generator for the registration benchmark (`scripts/bench-registrations.sh`): N public
//! `registerAttendee` requests to a running `techconf serve`, C at a time over keep-alive
//! connections, each with its own email. Prints one JSON line: requests per second, p50 and
//! p99 latency in ms, and how many answers were not a registration (any such answer fails
//! the run, so a refused or broken request cannot pass for a fast one).
//!
//! ```sh
//! cargo run --release --example bench_registrations -- http://127.0.0.1:8080 <conference-id> 20000 32 [label]
//! ```
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

const REGISTER: &str =
    "mutation($input: RegisterAttendeeInput!) { registerAttendee(input: $input) { id } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, conference, total, concurrency, rest @ ..] = args.as_slice() else {
        bail!("usage: bench_registrations URL CONFERENCE_ID TOTAL CONCURRENCY [LABEL]");
    };
    let label = rest.first().cloned().unwrap_or_default();
    let total: usize = total.parse().context("TOTAL")?;
    let concurrency: usize = concurrency.parse().context("CONCURRENCY")?;
    let url = format!("{base}/graphql");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let run = format!(
        "{:x}",
        std::process::id() ^ Instant::now().elapsed().subsec_nanos()
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, next, conference, run) =
                (client.clone(), url.clone(), next.clone(), conference.clone(), run.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                let mut first_failure = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let input = json!({
                        "conferenceId": conference, "firstName": "Ada", "lastName": "Lovelace",
                        "email": format!("bench-{run}-{label}-{i}@example.org", label = label_of(&url)),
                        "jobPosition": "Engineer", "company": "Analytical Engines",
                        "city": "London", "state": "LDN",
                    });
                    let sent = Instant::now();
                    let answer: Result<Value, _> = async {
                        client
                            .post(&url)
                            .json(&json!({"query": REGISTER, "variables": {"input": input}}))
                            .send()
                            .await?
                            .json()
                            .await
                    }
                    .await;
                    latencies.push(sent.elapsed());
                    match answer {
                        Ok(a) if a["data"]["registerAttendee"]["id"].is_string() => {}
                        other => {
                            failures += 1;
                            first_failure.get_or_insert_with(|| format!("{other:?}"));
                        }
                    }
                }
                (latencies, failures, first_failure)
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(total);
    let mut failures = 0;
    let mut first_failure = None;
    for task in tasks {
        let (l, f, first) = task.await?;
        latencies.extend(l);
        failures += f;
        first_failure = first_failure.or(first);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        json!({
            "label": label,
            "requests": total,
            "concurrency": concurrency,
            "seconds": elapsed.as_secs_f64(),
            "per_second": total as f64 / elapsed.as_secs_f64(),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "failures": failures,
        })
    );
    if let Some(first) = first_failure {
        bail!("{failures} requests did not register anyone; the first answer: {first}");
    }
    Ok(())
}

/// Emails must differ between runs against the same conference: the port tells runs apart.
fn label_of(url: &str) -> String {
    url.rsplit(':')
        .next()
        .unwrap_or_default()
        .replace("/graphql", "")
}
