# Shared by the fan-out and fairness benchmarks (sourced, not run): ports, clock, clean-up
# of the processes and database they start, and waiting for a notification to finish.
# Expects PG and DB to be set; processes started go into `pids`.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Returns once notification $1 is COMPLETED or COMPLETED_WITH_ERRORS. One connection that
# looks every 10 ms: a psql started per look costs a process and a PostgreSQL backend each
# time, which took a sixth of the machine away from the send being measured.
wait_finished() {
  psql -q "$DATABASE_URL" >/dev/null <<SQL
DO \$\$ BEGIN
  LOOP
    PERFORM 1 FROM notification
      WHERE id = '$1' AND status IN ('COMPLETED', 'COMPLETED_WITH_ERRORS');
    EXIT WHEN FOUND;
    PERFORM pg_sleep(0.01);
  END LOOP;
END \$\$;
SQL
}
