#!/usr/bin/env bash
# Fan-out benchmark: N attendees on PostgreSQL, Postfix's smtp-sink on loopback.
#
# Measures end-to-end emails/s from `createNotification` to `COMPLETED` with W worker
# processes and, in the same run against the same sink, the loopback SMTP limit with
# `smtp-source` reusing connections. Prints both, their ratio and the workers' peak RSS.
#
#   scripts/bench-fanout.sh [N=10000] [WORKERS=1] [CONCURRENCY=32]
set -euo pipefail
N=${1:-10000}
WORKERS=${2:-1}
CONCURRENCY=${3:-32}
BIN=${TECHCONF_BIN:-target/release/techconf}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
DB="techconf_bench_$$"
TOKEN="bench-admin-token-0123456789"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK_PORT=$(free_port)
API_PORT=$(free_port)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now() { date +%s.%N; }

[ -x "$BIN" ] || { echo "build first: cargo build --release --bin techconf" >&2; exit 1; }
user_flag=(); [ "$(id -u)" = 0 ] && user_flag=(-u nobody)
smtp-sink "${user_flag[@]}" 127.0.0.1:"$SINK_PORT" 1024 & pids+=($!)
sleep 0.3

# The loopback limit: smtp-source, CONCURRENCY sessions, 100 messages per connection.
t0=$(now)
smtp-source -s "$CONCURRENCY" -C 100 -m "$N" -l 1000 -f bench@example.org -t sink@example.org \
  127.0.0.1:"$SINK_PORT"
t1=$(now)
reference=$(python3 -c "print(round($N/($t1-$t0)))")

psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" MAIL_URL="smtp://127.0.0.1:$SINK_PORT" TECHCONF_ADMIN_TOKEN="$TOKEN" \
  WORKER_CONCURRENCY="$CONCURRENCY" LOG_FORMAT=json RUST_LOG=warn
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
while true; do
  status=$(psql -tA "$DATABASE_URL" -c "SELECT status FROM notification WHERE id = '$ID'")
  case "$status" in COMPLETED|COMPLETED_WITH_ERRORS) break ;; esac
  sleep 0.05
done
t1=$(now)
rss=0
for pid in "${worker_pids[@]}"; do
  kb=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
  [ "$kb" -gt "$rss" ] && rss=$kb
done
sent=$(psql -tA "$DATABASE_URL" -c "SELECT sent FROM notification WHERE id = '$ID'")
python3 - "$N" "$WORKERS" "$sent" "$t0" "$t1" "$reference" "$rss" <<'PY'
import sys
n, workers, sent, t0, t1, ref, rss = sys.argv[1:]
rate = int(sent) / (float(t1) - float(t0))
print(f"attendees={n} workers={workers} sent={sent} seconds={float(t1)-float(t0):.2f} "
      f"emails_per_s={rate:.0f} smtp_source_per_s={ref} ratio={rate/int(ref):.2f} "
      f"worker_peak_rss_mb={int(rss)/1024:.0f}")
PY
