#!/usr/bin/env bash
# Fairness benchmark: how long a small send of one organization takes while another
# organization's large send runs, against the same small send alone (after a warm-up send),
# in one run.
#
# PostgreSQL, Postfix's smtp-sink on loopback, W worker processes. Organization "big" has
# BIG attendees, organization "small" SMALL. First the small send alone (to COMPLETED);
# then the big send, and once it is sending and DELAY seconds after it was created (plus one
# second to measure its rate), the small send again. Prints both small-send times, their
# ratio, and the big send's rate in the second before and while the small one ran.
#
#   scripts/bench-fairness.sh [BIG=100000] [SMALL=100] [WORKERS=2] [DELAY=2]
set -euo pipefail
BIG=${1:-100000}
SMALL=${2:-100}
WORKERS=${3:-2}
DELAY=${4:-2}
BIN=${TECHCONF_BIN:-target/release/techconf}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
DB="techconf_fair_$$"
. "$(dirname "$0")/bench-lib.sh"
SINK_PORT=$(free_port)
API_PORT=$(free_port)

[ -x "$BIN" ] || { echo "build first: cargo build --release --bin techconf" >&2; exit 1; }
user_flag=(); [ "$(id -u)" = 0 ] && user_flag=(-u nobody)
smtp-sink "${user_flag[@]}" 127.0.0.1:"$SINK_PORT" 1024 & pids+=($!)

psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" MAIL_URL="smtp://127.0.0.1:$SINK_PORT" LOG_FORMAT=json RUST_LOG=warn
"$BIN" migrate >/dev/null
"$BIN" org create big >/dev/null 2>&1
"$BIN" org create small >/dev/null 2>&1
BIG_TOKEN=$("$BIN" token create --name big --role admin --org big 2>/dev/null)
SMALL_TOKEN=$("$BIN" token create --name small --role admin --org small 2>/dev/null)
BIG_CONF=$(python3 -c 'import uuid; print(uuid.uuid4())')
SMALL_CONF=$(python3 -c 'import uuid; print(uuid.uuid4())')
psql -q "$DATABASE_URL" <<SQL
INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at, organization_id)
  SELECT '$BIG_CONF', 'BigConf', '2027-10-12', 0, '1 Loopback Road', true, now(), id
  FROM organization WHERE name = 'big';
INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at, organization_id)
  SELECT '$SMALL_CONF', 'SmallConf', '2027-10-12', 0, '2 Loopback Road', true, now(), id
  FROM organization WHERE name = 'small';
INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, company,
                      city, state, submitted_at)
  SELECT gen_random_uuid(), '$BIG_CONF', 'First' || i, 'Last' || i, 'big' || i || '@example.org',
         'Engineer', 'Acme', 'Porto', 'PT', now()
  FROM generate_series(1, $BIG) AS i;
INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, company,
                      city, state, submitted_at)
  SELECT gen_random_uuid(), '$SMALL_CONF', 'First' || i, 'Last' || i, 'small' || i || '@example.org',
         'Engineer', 'Acme', 'Porto', 'PT', now()
  FROM generate_series(1, $SMALL) AS i;
SQL

TECHCONF_LISTEN="127.0.0.1:$API_PORT" "$BIN" serve >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 1 "$WORKERS"); do "$BIN" worker 2>/dev/null & pids+=($!); done
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$API_PORT/healthz" >/dev/null && break; sleep 0.1; done

notify() { # TOKEN CONFERENCE -> notification id
  curl -sf "http://127.0.0.1:$API_PORT/graphql" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' \
    -d "{\"query\":\"mutation { createNotification(input: {conferenceId: \\\"$2\\\", subject: \\\"Hello {{ first_name }}\\\", message: \\\"See you at {{ conference.name }}.\\\"}) { id } }\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createNotification"]["id"])'
}
field() { psql -tA "$DATABASE_URL" -c "SELECT $2 FROM notification WHERE id = '$1'"; }

# 1. The small send alone, after one send to warm up (connections, caches).
ID=$(notify "$SMALL_TOKEN" "$SMALL_CONF"); wait_finished "$ID"
t0=$(now); ID=$(notify "$SMALL_TOKEN" "$SMALL_CONF"); wait_finished "$ID"; t1=$(now)
alone=$(python3 -c "print(f'{$t1-$t0:.2f}')")

# 2. The big send; once it sends and DELAY s have passed, the small one again.
tb=$(now); BIG_ID=$(notify "$BIG_TOKEN" "$BIG_CONF")
while true; do
  sent=$(field "$BIG_ID" sent)
  waited=$(python3 -c "print(1 if $(now) - $tb >= $DELAY else 0)")
  [ "$sent" != 0 ] && [ "$waited" = 1 ] && break
  sleep 0.02
done
# The big send's own rate over one second, then the small send.
big_sent_a=$(field "$BIG_ID" sent); big_ta=$(now)
sleep 1
big_sent_0=$(field "$BIG_ID" sent); big_t0=$(now)
ts=$(now); ID=$(notify "$SMALL_TOKEN" "$SMALL_CONF"); wait_finished "$ID"; te=$(now)
big_sent_1=$(field "$BIG_ID" sent)
contended=$(python3 -c "print(f'{$te-$ts:.2f}')")
big_status=$(field "$BIG_ID" status)
python3 - "$BIG" "$SMALL" "$WORKERS" "$alone" "$contended" "$big_sent_0" "$big_sent_1" \
  "$big_sent_a" "$big_ta" "$big_t0" "$te" "$big_status" <<'PY'
import sys
(big, small, workers, alone, contended, s0, s1, sa, ta, t0, te, status) = sys.argv[1:]
before = (int(s0) - int(sa)) / (float(t0) - float(ta))
during = (int(s1) - int(s0)) / (float(te) - float(t0))
print(f"big={big} small={small} workers={workers} small_alone_s={alone} "
      f"small_during_big_s={contended} ratio={float(contended)/float(alone):.2f} "
      f"big_emails_per_s_before_small={before:.0f} big_emails_per_s_during_small={during:.0f} "
      f"big_status_when_small_done={status}")
PY
