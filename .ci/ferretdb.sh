#!/usr/bin/env bash
# FerretDB v1 (MongoDB wire protocol, SQLite backend) for the MongoStore and multi-process tests.
#   .ci/ferretdb.sh build          build once; the binary is cached next to GOPATH/bin
#   .ci/ferretdb.sh start DIR      start on a free 127.0.0.1 port with its data in DIR; prints
#                                  "PORT PID" once the server answers a ping
# Telemetry is off and DO_NOT_TRACK=1: no traffic leaves the machine.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
export GOTOOLCHAIN=local
BIN=${PALABRE_FERRETDB_BIN:-$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin/ferretdb-$VERSION}
# The readiness ping needs pymongo: the project's venv has it.
venv_python="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"
if [ -z "${PYTHON:-}" ] && [ -x "$venv_python" ]; then PYTHON=$venv_python; fi

build() {
  # The output is read whole: `| grep -q` would close the pipe early and, under pipefail, fail on SIGPIPE.
  local built=""
  [ -x "$BIN" ] && built=$("$BIN" --version 2>/dev/null || true)
  if grep -qx "version: $VERSION" <<<"$built"; then
    return 0
  fi
  command -v go >/dev/null || { echo "ferretdb: Go is not installed" >&2; return 1; }
  # `go install $MODULE/cmd/ferretdb@$VERSION` builds a binary that panics at start-up ("Invalid
  # build/version/version.txt file content"): the module zip lacks the generated version file.
  # So build from a writable copy of the module source with that file written in.
  echo "== building FerretDB $VERSION (once; cached in $BIN)" >&2
  local src work
  src=$(go mod download -json "$MODULE@$VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  work=$(mktemp -d)
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  printf '%s\n' "$VERSION" >"$work/build/version/version.txt"
  mkdir -p "$(dirname "$BIN")"
  (cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$BIN.$$.tmp" ./cmd/ferretdb)
  mv "$BIN.$$.tmp" "$BIN"  # atomic: a concurrent start sees the old binary or the new one
  rm -rf "$work"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

answers() {
  # A MongoDB `ping` over the wire, with the driver the project already depends on.
  "${PYTHON:-python3}" - "$1" <<'EOF' >/dev/null 2>&1
import sys
from pymongo import MongoClient
MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/", serverSelectionTimeoutMS=300).admin.command("ping")
EOF
}

start() {
  local dir=$1 port debug_port pid
  mkdir -p "$dir/data" "$dir/state"
  port=$(free_port)
  debug_port=$(free_port)
  DO_NOT_TRACK=1 "$BIN" --handler=sqlite --sqlite-url="file:$dir/data/" \
    --listen-addr="127.0.0.1:$port" --debug-addr="127.0.0.1:$debug_port" \
    --telemetry=disable --state-dir="$dir/state" --log-level=warn >"$dir/ferretdb.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if answers "$port"; then
      echo "$port $pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "ferretdb did not answer on 127.0.0.1:$port; its log:" >&2
  cat "$dir/ferretdb.log" >&2
  kill "$pid" 2>/dev/null || true
  return 1
}

case "${1:-}" in
  build) build ;;
  start) build && start "${2:?usage: $0 start DIR}" ;;
  *) echo "usage: $0 build | start DIR" >&2; exit 2 ;;
esac
