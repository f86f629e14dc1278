#!/usr/bin/env bash
# Interop with real peers, on 127.0.0.1 only, each check bounded in time:
#
#   - Python `websockets` client -> our echo server
#   - Node `ws` client -> our echo server
#   - our client (examples/client) and tokio_client -> Python and Node servers
#   - headless Chromium (playwright-core driving Debian's /usr/bin/chromium)
#     -> the echo server's diagnostics page (GET /)
#   - keepalive: our server with --ping-interval-ms 500 --pong-timeout-ms 500
#     against clients that stop answering, and one that keeps answering
#
# Installs what is missing: a venv with websockets (pip), ws and playwright-core
# (npm), all under $INTEROP_WORK (default /tmp/wsmachine-interop), never in the
# repository; Debian's chromium with apt-get when /usr/bin/chromium is missing.
# Logs and screenshots go to $INTEROP_OUT (default $INTEROP_WORK/out).
#
# Prints one line per check (`ok` or `FAIL name: reason`) and ends with exactly
# one line `interop: N passed, M failed`; exits non-zero if M > 0.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/interop"
WORK="${INTEROP_WORK:-/tmp/wsmachine-interop}"
OUT="${INTEROP_OUT:-$WORK/out}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
CHECK_TIMEOUT=30
BIN="$ROOT/target/release/examples"

mkdir -p "$WORK" "$OUT"
LOGS="$OUT/logs"
rm -rf "$LOGS" "$OUT"/diag_*.png
mkdir -p "$LOGS"

passed=0
failed=0
PIDS=()
PROFILES=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  local _ alive
  for _ in $(seq 40); do
    alive=0
    for pid in "${PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.05
  done
  # A browser left behind by a timed-out check: only ours, the processes with
  # exactly our profile's --user-data-dir argument.
  local dir proc
  for dir in "${PROFILES[@]}"; do
    for proc in /proc/[0-9]*; do
      if tr '\0' '\n' 2>/dev/null <"$proc/cmdline" | grep -qxF -- "--user-data-dir=$dir"; then
        kill -KILL "${proc#/proc/}" 2>/dev/null
      fi
    done
    rm -rf "$dir"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# check NAME COMMAND...: one pass/fail, COMMAND bounded by CHECK_TIMEOUT; on
# failure the reason is the last line the command printed.
check() {
  local name=$1
  shift
  local log="$LOGS/check-$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log"
  local start
  start=$(now)
  timeout -k 5 "$CHECK_TIMEOUT" "$@" >"$log" 2>&1
  local rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1))
    say "ok    $name ($(since "$start") s)"
  else
    failed=$((failed + 1))
    local reason
    reason=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-300)
    ((rc == 124 || rc == 137)) && reason="timed out after ${CHECK_TIMEOUT} s${reason:+ (last: $reason)}"
    say "FAIL  $name: ${reason:-exit status $rc} [log: $log]"
  fi
}

# fail NAME REASON: a check that could not run (a missing prerequisite).
fail() {
  failed=$((failed + 1))
  say "FAIL  $1: $2"
}

as_root() {
  if ((EUID == 0)); then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || return 1
  if ((apt_updated == 0)); then
    as_root apt-get update -qq || return 1
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- setup (each step logs to $LOGS/setup-*.log) --------------------------------

setup_start=$(now)
PY="$WORK/venv/bin/python"
have_py=0
have_node=0
have_browser=0
have_build=0

py_ok() { "$PY" -c 'import sys, websockets; sys.exit(int(websockets.__version__.split(".")[0]) < 14)' 2>/dev/null; }
if ! py_ok; then
  {
    if ! python3 -m venv "$WORK/venv"; then
      apt_install python3-venv python3-pip && python3 -m venv "$WORK/venv"
    fi
    timeout 600 "$PY" -m pip install -q 'websockets>=14'
  } >"$LOGS/setup-python.log" 2>&1
fi
if py_ok; then
  have_py=1
  say "setup: python websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"
else
  say "setup: python websockets could not be installed (see $LOGS/setup-python.log)"
fi

NODE_DIR="$WORK/node"
node_ok() {
  command -v node >/dev/null && [[ -f "$NODE_DIR/node_modules/ws/package.json" ]] &&
    [[ -f "$NODE_DIR/node_modules/playwright-core/package.json" ]]
}
if ! node_ok; then
  {
    command -v npm >/dev/null || apt_install nodejs npm
    mkdir -p "$NODE_DIR"
    # playwright-core downloads no browser; it drives $CHROMIUM.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 npm install --prefix "$NODE_DIR" \
      --no-audit --no-fund --loglevel=error 'ws@^8' 'playwright-core@^1'
  } >"$LOGS/setup-node.log" 2>&1
fi
if node_ok; then
  have_node=1
  export NODE_PATH="$NODE_DIR/node_modules"
  say "setup: node $(node --version), ws $(node -p 'require("ws/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
else
  say "setup: node ws/playwright-core could not be installed (see $LOGS/setup-node.log)"
fi

chromium_note=
if [[ ! -x "$CHROMIUM" && "$CHROMIUM" == /usr/bin/chromium ]]; then
  apt_install chromium >"$LOGS/setup-chromium.log" 2>&1
  chromium_note=" and could not be installed (see $LOGS/setup-chromium.log)"
fi
if [[ -x "$CHROMIUM" ]]; then
  have_browser=$have_node
  say "setup: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
else
  say "setup: $CHROMIUM missing$chromium_note"
fi

if (cd "$ROOT" && cargo build --release --example echo_server --example client --example tokio_client) \
  >"$LOGS/setup-build.log" 2>&1; then
  have_build=1
else
  say "setup: cargo build failed: $(grep -m1 '^error' "$LOGS/setup-build.log")"
fi
say "setup: $(since "$setup_start") s"

# --- servers ------------------------------------------------------------------------

# start_echo NAME FLAGS...: our echo server on a free port (the kernel picks it,
# the server prints it). Sets ECHO_PORT and ECHO_PID; ECHO_PORT is empty on failure.
start_echo() {
  local name=$1
  shift
  ECHO_PORT=
  ECHO_PID=
  ((have_build)) || return 1
  "$BIN/echo_server" --addr 127.0.0.1:0 "$@" >"$LOGS/$name.log" 2>"$LOGS/$name.err" &
  ECHO_PID=$!
  disown "$ECHO_PID" # no "Killed" notice from bash when a check kills it
  PIDS+=("$ECHO_PID")
  local _
  for _ in $(seq 100); do
    ECHO_PORT=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$LOGS/$name.err")
    [[ -n "$ECHO_PORT" ]] && return 0
    kill -0 "$ECHO_PID" 2>/dev/null || break
    sleep 0.05
  done
  ECHO_PORT=
  return 1
}

checks_start=$(now)
start_echo echo_server
ECHO=$ECHO_PORT
ECHO_MAIN_PID=$ECHO_PID
start_echo echo_server_keepalive --ping-interval-ms 500 --pong-timeout-ms 500
KEEPALIVE=$ECHO_PORT

CLIENT_CHECKS=(text binary empty large fragmented ping close close-app-code unicode pipelined)
OURCLIENT_CHECKS=(text unicode large close push-binary push-fragmented server-ping)

# --- Python websockets ---------------------------------------------------------------

for c in "${CLIENT_CHECKS[@]}"; do
  name="python client -> echo_server: $c"
  if ((!have_py)); then fail "$name" "python websockets not installed"
  elif [[ -z "$ECHO" ]]; then fail "$name" "echo_server did not start"
  else check "$name" "$PY" "$HERE/py_peer.py" client "ws://127.0.0.1:$ECHO/" "$c"; fi
done
for c in "${OURCLIENT_CHECKS[@]}"; do
  name="our client -> python server: $c"
  if ((!have_py)); then fail "$name" "python websockets not installed"
  elif ((!have_build)); then fail "$name" "build failed"
  else check "$name" "$PY" "$HERE/py_peer.py" ourclient "$BIN/client" "$c"; fi
done
name="tokio_client -> python server: 1012 restart, reconnect, 6 echoes"
if ((!have_py)); then fail "$name" "python websockets not installed"
elif ((!have_build)); then fail "$name" "build failed"
else check "$name" "$PY" "$HERE/py_peer.py" tokio "$BIN/tokio_client"; fi

# --- Node ws -----------------------------------------------------------------------------

for c in "${CLIENT_CHECKS[@]}"; do
  name="node client -> echo_server: $c"
  if ((!have_node)); then fail "$name" "node ws not installed"
  elif [[ -z "$ECHO" ]]; then fail "$name" "echo_server did not start"
  else check "$name" node "$HERE/node_peer.js" client "ws://127.0.0.1:$ECHO/" "$c"; fi
done
for c in "${OURCLIENT_CHECKS[@]}"; do
  name="our client -> node server: $c"
  if ((!have_node)); then fail "$name" "node ws not installed"
  elif ((!have_build)); then fail "$name" "build failed"
  else check "$name" node "$HERE/node_peer.js" ourclient "$BIN/client" "$c"; fi
done
name="tokio_client -> node server: 1012 restart, reconnect, 6 echoes"
if ((!have_node)); then fail "$name" "node ws not installed"
elif ((!have_build)); then fail "$name" "build failed"
else check "$name" node "$HERE/node_peer.js" tokio "$BIN/tokio_client"; fi

# --- the diagnostics page -----------------------------------------------------------------

name="http: GET / serves the diagnostics page, GET /nope is refused"
if ((!have_py)); then fail "$name" "python not set up"
elif [[ -z "$ECHO" ]]; then fail "$name" "echo_server did not start"
else check "$name" "$PY" "$HERE/py_peer.py" page "http://127.0.0.1:$ECHO/"; fi

name="chromium: diagnostics page ?auto=5: 5 echoes, 64 KiB binary, clean 1000"
if ((!have_browser)); then fail "$name" "chromium or playwright-core missing"
elif [[ -z "$ECHO" ]]; then fail "$name" "echo_server did not start"
else
  profile=$(mktemp -d "$WORK/chromium-profile.XXXXXX")
  PROFILES+=("$profile")
  check "$name" node "$HERE/browser.js" auto "http://127.0.0.1:$ECHO/?auto=5" "$OUT" "$profile"
fi

name="chromium: live page, then the server is killed: 1006 explained"
if ((!have_browser)); then fail "$name" "chromium or playwright-core missing"
elif ! start_echo echo_server_killed; then fail "$name" "echo_server did not start"
else
  profile=$(mktemp -d "$WORK/chromium-profile.XXXXXX")
  PROFILES+=("$profile")
  check "$name" node "$HERE/browser.js" live "http://127.0.0.1:$ECHO_PORT/" "$OUT" "$profile" "$ECHO_PID"
fi

# --- keepalive ------------------------------------------------------------------------------

for spec in \
  "keepalive-raw|keepalive: raw client reads but never pongs: 1011 then EOF within 0.9-3 s" \
  "keepalive-paused|keepalive: python client stops reading: server closes within 0.9-3 s, client sees 1011" \
  "keepalive-answered|keepalive: python client answers pings: still open after 2.5 s"; do
  mode=${spec%%|*}
  name=${spec#*|}
  if ((!have_py)); then fail "$name" "python websockets not installed"
  elif [[ -z "$KEEPALIVE" ]]; then fail "$name" "echo_server did not start"
  elif [[ $mode == keepalive-paused ]]; then
    check "$name" "$PY" "$HERE/py_peer.py" "$mode" "ws://127.0.0.1:$KEEPALIVE/" "$LOGS/echo_server_keepalive.log"
  else
    check "$name" "$PY" "$HERE/py_peer.py" "$mode" "ws://127.0.0.1:$KEEPALIVE/"
  fi
done

# --- the server survived all of it ---------------------------------------------------------

name="echo_server still running after every client"
if [[ -n "$ECHO" ]] && kill -0 "$ECHO_MAIN_PID" 2>/dev/null; then
  passed=$((passed + 1))
  say "ok    $name"
else
  fail "$name" "it is gone (see $LOGS/echo_server.err)"
fi

say "checks: $(since "$checks_start") s; logs and screenshots in $OUT"
say "interop: $passed passed, $failed failed"
((failed == 0))
