#!/usr/bin/env bash
# Load and fault scenarios of issue 16 against the real binaries, in release.
#
#   flock /tmp/cpu.lock bash examples/load/run.sh [SECONDS_PER_RUN]
#
# Needs wrk, taskset, redis-server, python3 (installs wrk with apt when
# missing). The server runs on CPU 0 (one tokio worker), the load generator
# on CPU 1. Prints one table at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-8}
export CARGO_INCREMENTAL=0
if ! command -v wrk >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p hardening-examples --bins
BIN=target/release
LUA=examples/load/statuses.lua
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true
ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); echo "  -> $1: $2 ($3)"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME CMD... : starts a server on CPU 0, waits for "listening on", sets ADDR_OUT and PID_OUT
start() {
    local log="$TMP/$1.log"; shift
    TOKIO_WORKER_THREADS=1 taskset -c 0 "$@" >"$log" 2>&1 &
    PID_OUT=$!; PIDS+=("$PID_OUT")
    for _ in $(seq 1 200); do
        ADDR_OUT=$(grep -m1 -o 'listening on http://[^ ]*' "$log" 2>/dev/null | sed 's|listening on http://||') || true
        [ -n "$ADDR_OUT" ] && return 0
        sleep 0.05
    done
    echo "server did not start: $*"; cat "$log"; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
load() { taskset -c 1 wrk -t1 -c"${CONNS:-32}" -d"$1" --latency -s "$LUA" "${@:2}"; }
rps() { awk '/Requests\/sec/ {print $2}'; }
ms_p99() { # URL COUNT: p99 of COUNT sequential curl requests, in ms
    for _ in $(seq 1 "$2"); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done \
        | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.1f", a[i]*1000}'
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
OURS_ARGS=(--set rate_limits.api=1000000000/min --set server.metrics_addr=127.0.0.1:0)

echo "== 1. throughput: GET /api/items, ${DUR}s per run, 2 alternating rounds"
declare -A SUM
for round in 1 2; do
    for who in bare peer ours ours_warn; do
        case $who in
            bare) start bare env ADDR=127.0.0.1:0 $BIN/bare_api ;;
            peer) start peer env ADDR=127.0.0.1:0 RUST_LOG=info GOVERNOR_BURST=1000000000 $BIN/peer_stack ;;
            ours) start ours env ADDR=127.0.0.1:0 RUST_LOG=info $BIN/secure_api "${OURS_ARGS[@]}" ;;
            ours_warn) start ours_warn env ADDR=127.0.0.1:0 RUST_LOG=warn $BIN/secure_api "${OURS_ARGS[@]}" ;;
        esac
        out=$(load "${DUR}s" "http://$ADDR_OUT/api/items")
        r=$(echo "$out" | rps)
        echo "  round $round $who: $r req/s  $(echo "$out" | grep STATUS)"
        SUM[$who]=$(python3 -c "print(${SUM[$who]:-0} + $r)")
        stop "$PID_OUT"
    done
done
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
row "1 throughput" "ours $(ratio ${SUM[ours]} 2) req/s, peer $(ratio ${SUM[peer]} 2), bare $(ratio ${SUM[bare]} 2), ours at WARN $(ratio ${SUM[ours_warn]} 2)" \
    "ours/peer $(ratio ${SUM[ours]} ${SUM[peer]}) (target ≥ 1.0); ours WARN/bare $(ratio ${SUM[ours_warn]} ${SUM[bare]}) (target ≥ 0.85)"

echo "== 2. key flood: 1,000,000 distinct X-Forwarded-For from a trusted proxy"
start flood env ADDR=127.0.0.1:0 RUST_LOG=warn TRUSTED_PROXIES=127.0.0.1 $BIN/secure_api --set server.metrics_addr=off
FLOOD=$ADDR_OUT; FLOOD_PID=$PID_OUT
rss0=$(rss_mb "$FLOOD_PID")
flood_secs=0; sent=0
while [ "$sent" -lt 1000000 ]; do
    out=$(XFF=1 load 10s "http://$FLOOD/api/items" &
          sleep 4; ms_p99 "http://$FLOOD/livez" 100 > "$TMP/livez_p99"; wait)
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    sent=$((sent + n)); flood_secs=$((flood_secs + 10))
    echo "  flood: $sent requests so far; $(echo "$out" | grep STATUS); livez p99 $(cat "$TMP/livez_p99") ms"
    [ "$flood_secs" -ge 120 ] && break
done
livez=$(cat "$TMP/livez_p99")
rss1=$(rss_mb "$FLOOD_PID")
# The limiter still limits a known client exactly: 60 admitted, then 429.
codes=$(for _ in $(seq 1 61); do curl -s -o /dev/null -w '%{http_code}\n' -H 'x-forwarded-for: 192.0.2.7' "http://$FLOOD/api/items"; done | sort | uniq -c | tr '\n' ' ')
row "2 key flood" "$sent distinct keys (wrk restarts the counter per run: ≥ 1M distinct over the runs) in ${flood_secs}s: RSS ${rss0} → ${rss1} MB, /livez p99 ${livez} ms under load" "known client, 61 requests: $codes(expected 60×200, 1×429)"
stop "$FLOOD_PID"

echo "== 3. Redis killed and restarted under load"
RPORT=$(free_port); RDIR="$TMP/redis"; mkdir -p "$RDIR"
redis_up() { redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$RDIR" --daemonize yes --pidfile "$RDIR/pid" --logfile "$RDIR/log"; sleep 0.3; }
redis_up
start redis env ADDR=127.0.0.1:0 RUST_LOG=warn TRUSTED_PROXIES=127.0.0.1 REDIS_URL="redis://127.0.0.1:$RPORT/" $BIN/secure_api --set server.metrics_addr=off
RAPI=$ADDR_OUT; RAPI_PID=$PID_OUT
out=$(XFF=1 load 15s "http://$RAPI/api/items" &
      sleep 5; redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
      sleep 5; redis_up; wait)
keys=$(redis-cli -p "$RPORT" --scan --pattern 'secure_api:ratelimit:*' | head -1000 | wc -l)
sleep 2
curl -s -o /dev/null -H 'x-forwarded-for: 192.0.2.9' "http://$RAPI/api/items"
after=$(redis-cli -p "$RPORT" --scan --pattern 'secure_api:ratelimit:*' | wc -l)
row "3 redis restart" "$(echo "$out" | grep STATUS | sed 's/STATUS //')" "keys in the restarted Redis: $keys during the last 5 s, $after after one more request (decisions back in Redis)"
redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
stop "$RAPI_PID"

echo "== 4. upstream failing 50 %, then dead, then healed"
UPORT=$(free_port)
cat > "$TMP/upstream.py" <<'PY'
import http.server, os, random, sys
rate = float(os.environ.get("FAIL", "0"))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
        ok = random.random() >= rate
        body = b'{"completion":"ok"}' if ok else b'{"error":"x"}'
        self.send_response(200 if ok else 500)
        self.send_header("content-type", "application/json"); self.send_header("content-length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
upstream() { FAIL=$1 python3 "$TMP/upstream.py" "$UPORT" & UP_PID=$!; PIDS+=("$UP_PID"); sleep 0.5; }
upstream 0.5
start up env ADDR=127.0.0.1:0 RUST_LOG=warn $BIN/secure_api --upstream "http://127.0.0.1:$UPORT/v1/complete" \
    --set rate_limits.llm=1000000000/min --set server.metrics_addr=off --set retry.backoff_base_ms=50 --set retry.backoff_max_ms=200 --set circuit.open_ms=2000
UAPI=$ADDR_OUT; UAPI_PID=$PID_OUT
post() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST -H 'content-type: application/json' -d '{"prompt":"hi"}' "http://$UAPI/llm/complete"; }
phase() { for _ in $(seq 1 "$1"); do post; done | awk '{c[$1]++; if ($1==503 && $2>m) m=$2} END {for (k in c) printf "%s×%d ", k, c[k]; if (m) printf "(slowest 503 %.0f ms)", m*1000}'; }
half=$(phase 40)
stop "$UP_PID"
dead=$(phase 40); livez_dead=$(ms_p99 "http://$UAPI/livez" 50)
upstream 0
sleep 2.5
healed=$(phase 20)
row "4 upstream" "50 %: $half; dead: $dead" "healed after the open period: $healed; /livez p99 while dead ${livez_dead} ms"
stop "$UAPI_PID"; stop "$UP_PID"

echo "== 5. slow clients: 5,000 idle connections + trickling bodies"
start slow env ADDR=127.0.0.1:0 RUST_LOG=warn HEADER_READ_TIMEOUT_MS=3000 IDLE_TIMEOUT_MS=5000 $BIN/secure_api "${OURS_ARGS[@]}"
SAPI=$ADDR_OUT; SAPI_PID=$PID_OUT
cat > "$TMP/slow.py" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1); port = int(port)
idle = []
for i in range(5000):
    s = socket.socket(); s.connect((host, port)); idle.append(s)
trickle = []
for i in range(50):
    s = socket.socket(); s.connect((host, port))
    s.sendall(b"POST /api/items HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n")
    trickle.append(s)
start = time.time()
while time.time() - start < float(sys.argv[2]):
    for s in trickle:
        try: s.send(b"x")
        except OSError: pass
    time.sleep(0.5)
closed = 0
for s in idle:
    s.setblocking(False)
    try:
        if s.recv(1) == b"": closed += 1
    except BlockingIOError: pass
    except OSError: closed += 1
print(f"closed {closed} of {len(idle)} idle connections")
PY
taskset -c 1 python3 "$TMP/slow.py" "$SAPI" 12 > "$TMP/slow.out" &
SLOW=$!
sleep 4
out=$(CONNS=16 load 6s "http://$SAPI/api/items")
wait "$SLOW"
row "5 slow clients" "while 5,000 idle + 50 trickling: $(echo "$out" | rps) req/s, $(echo "$out" | grep LAT | sed 's/LAT //')" "$(cat "$TMP/slow.out") after 12 s (header-read timeout 3 s, idle 5 s)"
stop "$SAPI_PID"

echo "== 6. SIGTERM under load"
start term env ADDR=127.0.0.1:0 RUST_LOG=warn DRAIN_DELAY_MS=1000 SHUTDOWN_DEADLINE_MS=3000 UPSTREAM_LATENCY_MS=500 $BIN/secure_api "${OURS_ARGS[@]}" --set rate_limits.llm=1000000000/min
TAPI=$ADDR_OUT; TAPI_PID=$PID_OUT
(CONNS=16 load 6s "http://$TAPI/api/items" > "$TMP/term.wrk") &
WRK=$!
sleep 0.5
# An in-flight slow request that must finish.
curl -s -o "$TMP/inflight" -w '%{http_code}' -X POST -H 'content-type: application/json' -d '{"prompt":"slow"}' "http://$TAPI/llm/complete" > "$TMP/inflight.code" &
CURL=$!
sleep 0.5
t0=$(date +%s.%N)
kill -TERM "$TAPI_PID"
sleep 0.2
ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$TAPI/readyz" || true)
wait "$TAPI_PID" 2>/dev/null || true
t1=$(date +%s.%N)
wait "$CURL" || true; wait "$WRK" || true
row "6 SIGTERM" "/readyz after SIGTERM: $ready; exited after $(python3 -c "print(f'{$t1-$t0:.2f}')") s (drain 1 s + deadline 3 s)" "in-flight /llm: $(cat "$TMP/inflight.code"); wrk: $(grep -E 'Socket errors|STATUS' "$TMP/term.wrk" | tr '\n' ' ')"

echo
echo "| scenario | figures | checks |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
