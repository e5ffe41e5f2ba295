#!/usr/bin/env bash
# Fan-out benchmark: N attendees on PostgreSQL, Postfix's smtp-sink on loopback.
#
# Measures end-to-end emails/s from `createNotification` to `COMPLETED` with W worker
# processes and, in the same run against the same sink, the loopback SMTP limit with
# `smtp-source` reusing connections (`-d`), measured just before and just after the fan-out.
# Prints both, their ratio, the rate per connection, the workers' peak RSS (VmHWM) and the
# load average at the end.
#
#   scripts/bench-fanout.sh [N=10000] [WORKERS=1] [CONCURRENCY=32] [NODELAY=1] [PIPELINING=1]
#   BENCH_LATENCY_MS=10 scripts/bench-fanout.sh 5000 1 32 1 1   # a WAN run: 20 ms round trip
#
# NODELAY=0 leaves Nagle's algorithm on in the worker's SMTP sockets (as lettre does on its
# own), through the benchmark-only TECHCONF_SMTP_NODELAY switch; PIPELINING=0 sends one SMTP
# command at a time (TECHCONF_SMTP_PIPELINING). BENCH_LATENCY_MS puts
# examples/latency_proxy.rs in front of the sink, adding that many milliseconds each way to
# both the worker's and smtp-source's connections.
set -euo pipefail
N=${1:-10000}
WORKERS=${2:-1}
CONCURRENCY=${3:-32}
NODELAY=${4:-1}
PIPELINING=${5:-1}
LATENCY_MS=${BENCH_LATENCY_MS:-0}
PROXY_BIN=${LATENCY_PROXY_BIN:-target/release/examples/latency_proxy}
BIN=${TECHCONF_BIN:-target/release/techconf}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
DB="techconf_bench_$$"
TOKEN="bench-admin-token-0123456789"
. "$(dirname "$0")/bench-lib.sh"
SINK_PORT=$(free_port)
API_PORT=$(free_port)

[ -x "$BIN" ] || { echo "build first: cargo build --release --bin techconf" >&2; exit 1; }
user_flag=(); [ "$(id -u)" = 0 ] && user_flag=(-u nobody)
smtp-sink "${user_flag[@]}" 127.0.0.1:"$SINK_PORT" 1024 & pids+=($!)
sleep 0.3
# Where clients connect: the sink itself, or the latency proxy in front of it.
SMTP_PORT=$SINK_PORT
if [ "$LATENCY_MS" -gt 0 ]; then
  [ -x "$PROXY_BIN" ] || { echo "build first: cargo build --release --example latency_proxy" >&2; exit 1; }
  coproc PROXY { exec "$PROXY_BIN" 127.0.0.1:0 127.0.0.1:"$SINK_PORT" "$LATENCY_MS"; }
  pids+=($PROXY_PID)
  read -r line <&"${PROXY[0]}"
  SMTP_PORT=${line##*:}
fi

# The loopback limit: smtp-source, CONCURRENCY sessions, each sending message after message
# over one connection (-d), at most 100,000 messages.
reference() {
  local m=$(( N < 100000 ? N : 100000 )) t0 t1
  t0=$(now)
  smtp-source -d -s "$CONCURRENCY" -m "$m" -l 600 -f bench@example.org -t sink@example.org \
    127.0.0.1:"$SMTP_PORT" >/dev/null
  t1=$(now)
  python3 -c "print(round($m/($t1-$t0)))"
}
reference_before=$(reference)

psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" MAIL_URL="smtp://127.0.0.1:$SMTP_PORT" TECHCONF_ADMIN_TOKEN="$TOKEN" \
  WORKER_CONCURRENCY="$CONCURRENCY" TECHCONF_SMTP_NODELAY="$NODELAY" \
  TECHCONF_SMTP_PIPELINING="$PIPELINING" LOG_FORMAT=json RUST_LOG=warn
"$BIN" migrate >/dev/null
CONF=$(python3 -c 'import uuid; print(uuid.uuid4())')
psql -q "$DATABASE_URL" <<SQL
INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at)
  VALUES ('$CONF', 'BenchConf', '2027-10-12', 0, '1 Loopback Road', true, now());
INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, company,
                      city, state, submitted_at)
  SELECT gen_random_uuid(), '$CONF', 'First' || i, 'Last' || i, 'person' || i || '@example.org',
         'Engineer', 'Acme', 'Porto', 'PT', now()
  FROM generate_series(1, $N) AS i;
SQL

TECHCONF_LISTEN="127.0.0.1:$API_PORT" "$BIN" serve >/dev/null 2>&1 & pids+=($!)
worker_pids=()
for _ in $(seq 1 "$WORKERS"); do "$BIN" worker 2>/dev/null & pids+=($!); worker_pids+=($!); done
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break; sleep 0.1; done

t0=$(now)
ID=$(curl -sf "http://127.0.0.1:$API_PORT/graphql" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"query\":\"mutation { createNotification(input: {conferenceId: \\\"$CONF\\\", subject: \\\"Hello {{ first_name }}\\\", message: \\\"See you at {{ conference.name }}, {{ first_name }} {{ last_name }}.\\\"}) { id } }\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createNotification"]["id"])')
wait_finished "$ID"
t1=$(now)
rss=0
cpu_ticks=0
for pid in "${worker_pids[@]}"; do
  kb=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
  [ "$kb" -gt "$rss" ] && rss=$kb
  # utime + stime of the worker process (fields 14 and 15 of /proc/PID/stat).
  cpu_ticks=$(( cpu_ticks + $(awk '{print $14 + $15}' /proc/"$pid"/stat) ))
done
cpu_seconds=$(python3 -c "print(round($cpu_ticks / $(getconf CLK_TCK), 1))")
sent=$(psql -tA "$DATABASE_URL" -c "SELECT sent FROM notification WHERE id = '$ID'")
reference_after=$(reference)
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$N" "$WORKERS" "$CONCURRENCY" "$NODELAY" "$sent" "$t0" "$t1" "$reference_before" \
  "$reference_after" "$rss" "$cpu_seconds" "$PIPELINING" "$LATENCY_MS" "$load" <<'PY'
import sys
(n, workers, concurrency, nodelay, sent, t0, t1, before, after, rss, cpu, pipelining,
 latency, load) = sys.argv[1:]
rate = int(sent) / (float(t1) - float(t0))
ref = (int(before) + int(after)) / 2
per_connection = rate / (int(concurrency) * int(workers))
print(f"attendees={n} workers={workers} concurrency={concurrency} nodelay={nodelay} "
      f"pipelining={pipelining} latency_ms_each_way={latency} "
      f"sent={sent} seconds={float(t1)-float(t0):.2f} emails_per_s={rate:.0f} "
      f"per_connection_per_s={per_connection:.1f} "
      f"smtp_source_per_s={before}/{after} "
      f"smtp_source_per_session_per_s={ref / int(concurrency):.1f} ratio={rate/ref:.3f} "
      f"worker_peak_rss_mb={int(rss)/1024:.0f} worker_cpu_s={cpu} load_avg={load.replace(' ', '/')}")
PY
