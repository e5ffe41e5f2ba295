#!/usr/bin/env bash
# Registration benchmark: concurrent public `registerAttendee` requests against a release
# `techconf serve` on PostgreSQL, with the request limits on and off, next to pgbench running
# the same SQL on the same database in the same run (the reference).
#
#   scripts/bench-registrations.sh [REQUESTS=20000] [CONCURRENCY=32] [ROUNDS=2]
#
# "on" is the shipped defaults, with the registration rate limits raised so that every
# request is checked (and charged) yet none is refused; "off" sets every limit to 0.
# The runs alternate (pgbench, on, off, on, off, ..., pgbench) so that drift on a shared
# machine falls on both sides; each figure is the mean of its runs.
set -euo pipefail
N=${1:-20000}
C=${2:-32}
ROUNDS=${3:-2}
BIN=${TECHCONF_BIN:-target/release/techconf}
LOAD=${TECHCONF_BENCH_LOAD:-target/release/examples/bench_registrations}
PG=${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
DB="techconf_bench_reg_$$"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server=""
tmp=$(mktemp -d)
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
for f in "$BIN" "$LOAD"; do
  [ -x "$f" ] || { echo "build first: cargo build --release --bin techconf --example bench_registrations" >&2; exit 1; }
done

psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="$PG/$DB" LOG_FORMAT=json RUST_LOG=warn
"$BIN" migrate >/dev/null
CONF=$(python3 -c 'import uuid; print(uuid.uuid4())')
psql -q "$DATABASE_URL" -c "INSERT INTO conference (id, name, starts_on, price_cents, address, active, created_at)
  VALUES ('$CONF', 'BenchConf', '2027-10-12', 0, '1 Loopback Road', true, now())"

LIMITS_ON=(REGISTRATION_RATE_PER_CLIENT=4000000000 REGISTRATION_BURST_PER_CLIENT=1000000
           REGISTRATION_RATE_PER_CONFERENCE=4000000000 REGISTRATION_BURST_PER_CONFERENCE=1000000)
LIMITS_OFF=(GRAPHQL_MAX_DEPTH=0 GRAPHQL_MAX_COMPLEXITY=0 GRAPHQL_MAX_ALIASES=0
            GRAPHQL_MAX_ROOT_FIELDS=0 GRAPHQL_MAX_PUBLIC_MUTATIONS=0
            GRAPHQL_MAX_INTROSPECTION_DEPTH=0 GRAPHQL_MAX_RESPONSE_BYTES=0 GRAPHQL_TIMEOUT_MS=0
            REGISTRATION_RATE_PER_CLIENT=0 REGISTRATION_RATE_PER_CONFERENCE=0)

# One registration as `service::attendee::register` runs it: read the conference, then in
# one transaction insert the attendee and its confirmation job and signal both channels.
cat > "$tmp/register.sql" <<SQL
SELECT id, name, starts_on, price_cents, address, active, created_at FROM conference WHERE id = '$CONF';
BEGIN;
INSERT INTO attendee (id, conference_id, first_name, last_name, email, job_position, company,
                      city, state, interests, comments, submitted_at, legacy_id)
  VALUES (gen_random_uuid(), '$CONF', 'Ada', 'Lovelace', 'pgbench-' || gen_random_uuid() || '@example.org',
          'Engineer', 'Analytical Engines', 'London', 'LDN', NULL, NULL, now(), NULL);
INSERT INTO job (id, kind, payload, status, priority, attempts, max_attempts, run_at,
                 locked_until, locked_by, last_error, created_at, published_at)
  VALUES (gen_random_uuid(), 'confirmation', '{"kind":"confirmation","attendee_id":"' || gen_random_uuid() || '"}',
          'pending', 10, 0, 10, now(), NULL, NULL, NULL, now(), NULL);
SELECT pg_notify('techconf_jobs', '');
SELECT pg_notify('techconf_registrations', '$CONF:' || gen_random_uuid());
COMMIT;
SQL

pgbench_run() {
  pgbench -n -M prepared -c "$C" -j 2 -t $(( N / C )) -f "$tmp/register.sql" "$DATABASE_URL" 2>&1 \
    | awk '/^tps = / { print $3 }'
}
api_run() { # label, settings...
  local label=$1; shift
  local port; port=$(free_port)
  env "$@" TECHCONF_LISTEN="127.0.0.1:$port" "$BIN" serve >"$tmp/serve-$label.log" 2>&1 & server=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  "$LOAD" "http://127.0.0.1:$port" "$CONF" "$N" "$C" "$label"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
}

declare -a PGB ON OFF
PGB+=("$(pgbench_run)")
for _ in $(seq 1 "$ROUNDS"); do
  ON+=("$(api_run on "${LIMITS_ON[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')")
  OFF+=("$(api_run off "${LIMITS_OFF[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')")
done
PGB+=("$(pgbench_run)")
python3 - "$N" "$C" "${PGB[*]}" "${ON[*]}" "${OFF[*]}" <<'PY'
import sys
n, c = sys.argv[1], sys.argv[2]
pgb, on, off = ([float(x) for x in a.split()] for a in sys.argv[3:6])
mean = lambda xs: sum(xs) / len(xs)
print(f"requests={n} concurrency={c}")
print(f"pgbench (same SQL)  : {' '.join(f'{x:.0f}' for x in pgb)} tx/s, mean {mean(pgb):.0f}")
print(f"API, limits on      : {' '.join(f'{x:.0f}' for x in on)} req/s, mean {mean(on):.0f} ({mean(on)/mean(pgb):.1%} of pgbench)")
print(f"API, limits off     : {' '.join(f'{x:.0f}' for x in off)} req/s, mean {mean(off):.0f} ({mean(off)/mean(pgb):.1%} of pgbench)")
print(f"cost of the limits  : {1 - mean(on)/mean(off):+.1%} of throughput")
PY
