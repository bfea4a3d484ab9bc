#!/usr/bin/env bash
# Load and fault scenarios of issues 16 and 18 against the real binaries,
# built in release. Prints one Markdown table at the end (README:
# "Under load").
#
#   flock /tmp/cpu.lock bash examples/load/run.sh [--quick] [SCENARIO...]
#
# SCENARIO: throughput flood redis upstream slow sigterm overload (default:
# all). A full run takes about 6 minutes, --quick about 2. Needs wrk,
# taskset, curl, python3 and (for `redis`) redis-server; installs wrk with
# apt when it is missing. Every server runs on CPU 0 with one tokio worker,
# every load generator on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
QUICK=0
SCENARIOS=()
for arg in "$@"; do
    case $arg in
        --quick) QUICK=1 ;;
        throughput|flood|redis|upstream|slow|sigterm|overload) SCENARIOS+=("$arg") ;;
        *) echo "unknown argument $arg"; exit 2 ;;
    esac
done
[ ${#SCENARIOS[@]} -eq 0 ] && SCENARIOS=(throughput flood redis upstream slow sigterm overload)
wanted() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }
if [ "$QUICK" = 1 ]; then
    DUR=3; ROUNDS=1; FLOOD_KEYS=200000; OVERLOAD_SECS=5
else
    DUR=8; ROUNDS=2; FLOOD_KEYS=1000000; OVERLOAD_SECS=12
fi

export CARGO_INCREMENTAL=0
if ! command -v wrk >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p hardening-examples --bin secure_api --bin bare_api --bin peer_stack --bin overload
BIN=target/release
LUA=examples/load/statuses.lua
TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
    [ -n "${RPORT:-}" ] && redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s |' "$1" "$2" "$3")"); echo "  -> $1: $2 | $3"; }
py() { python3 -c "print($1)"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME CMD... : a server on CPU 0 with one tokio worker; waits for its
# "listening on" line and sets ADDR_OUT, PID_OUT and LOG_OUT.
start() {
    LOG_OUT="$TMP/$1.log"; shift
    TOKIO_WORKER_THREADS=1 taskset -c 0 "$@" >"$LOG_OUT" 2>&1 &
    PID_OUT=$!; PIDS+=("$PID_OUT")
    ADDR_OUT=
    for _ in $(seq 1 400); do
        ADDR_OUT=$(grep -m1 -o 'listening on http://[^ ]*' "$LOG_OUT" 2>/dev/null | sed 's|listening on http://||') || true
        [ -n "$ADDR_OUT" ] && return 0
        kill -0 "$PID_OUT" 2>/dev/null || break
        sleep 0.05
    done
    echo "server did not start: $*"; cat "$LOG_OUT"; exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
metrics_of() { grep -m1 -o 'metrics on http://[^ ]*' "$1" | sed 's|metrics on ||'; }
# load DURATION URL [wrk args...]: wrk on CPU 1 (CONNS connections, default 32)
load() { taskset -c 1 wrk -t1 -c"${CONNS:-32}" -d"$1" --latency -s "$LUA" "${@:2}"; }
rps() { awk '/Requests\/sec/ {print $2}'; }
status_of() { grep STATUS | sed 's/STATUS //'; }
lat_of() { grep '^LAT' | sed 's/LAT //'; }
# p99_ms URL COUNT [curl args]: p99 of COUNT requests on one kept-alive
# connection (one curl process, so no process start-up in the figure).
p99_ms() {
    local url=$1 n=$2; shift 2
    local urls=(); for _ in $(seq 1 "$n"); do urls+=(-o /dev/null "$url"); done
    taskset -c 1 curl -s "$@" -w '%{time_total}\n' "${urls[@]}" \
        | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99+0.5); if (i<1) i=1; printf "%.2f", a[i]*1000}'
}
# codes URL COUNT [curl args]: "200×60 429×1", COUNT requests on one connection.
codes() {
    local url=$1 n=$2; shift 2
    local urls=(); for _ in $(seq 1 "$n"); do urls+=(-o /dev/null "$url"); done
    taskset -c 1 curl -s "$@" -w '%{http_code}\n' "${urls[@]}" | sort | uniq -c | awk '{printf "%s%s×%s", (NR>1?" ":""), $2, $1}'
}
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
OURS_ARGS=(--set rate_limits.api=1000000000/min --set server.metrics_addr=off)

if wanted throughput; then
    echo "== 1. throughput: GET /api/items, ${DUR}s per run, $ROUNDS alternating round(s), 32 connections"
    declare -A SUM CPU
    for round in $(seq 1 "$ROUNDS"); do
        for who in bare peer ours ours_warn; do
            case $who in
                bare) start bare env ADDR=127.0.0.1:0 $BIN/bare_api ;;
                peer) start peer env ADDR=127.0.0.1:0 RUST_LOG=info GOVERNOR_BURST=1000000000 $BIN/peer_stack ;;
                ours) start ours env ADDR=127.0.0.1:0 RUST_LOG=info $BIN/secure_api "${OURS_ARGS[@]}" ;;
                ours_warn) start ours_warn env ADDR=127.0.0.1:0 RUST_LOG=warn $BIN/secure_api "${OURS_ARGS[@]}" ;;
            esac
            curl -s -o /dev/null "http://$ADDR_OUT/api/items"
            t0=$(cpu_ticks "$PID_OUT")
            out=$(load "${DUR}s" "http://$ADDR_OUT/api/items")
            t1=$(cpu_ticks "$PID_OUT")
            r=$(echo "$out" | rps)
            n=$(echo "$out" | awk '/requests in/ {print $1}')
            us=$(py "f'{($t1-$t0)/$TICK/$n*1e6:.1f}'")
            echo "  round $round $who: $r req/s, $us µs server CPU/request, $(echo "$out" | status_of), $(echo "$out" | lat_of), log $(du -h "$LOG_OUT" | cut -f1)"
            SUM[$who]=$(py "${SUM[$who]:-0} + $r")
            CPU[$who]=$(py "${CPU[$who]:-0} + $us")
            stop "$PID_OUT"; rm -f "$LOG_OUT"
        done
    done
    avg() { py "f'{${SUM[$1]}/$ROUNDS:,.0f}'"; }
    cpu() { py "f'{${CPU[$1]}/$ROUNDS:.1f}'"; }
    ratio() { py "f'{${SUM[$1]}/${SUM[$2]}:.2f}'"; }
    row "1 throughput (req/s, server CPU per request)" \
        "bare $(avg bare) ($(cpu bare) µs), peer stack $(avg peer) ($(cpu peer) µs), secure_api $(avg ours) ($(cpu ours) µs), secure_api at WARN $(avg ours_warn) ($(cpu ours_warn) µs)" \
        "ours/peer **$(ratio ours peer)** (target ≥ 1.0); ours at WARN/bare **$(ratio ours_warn bare)** (target ≥ 0.85)"
fi

if wanted flood; then
    echo "== 2. key flood: $FLOOD_KEYS distinct X-Forwarded-For addresses from a trusted proxy"
    start flood env ADDR=127.0.0.1:0 RUST_LOG=warn TRUSTED_PROXIES=127.0.0.1 METRICS_ADDR=127.0.0.1:0 $BIN/secure_api
    FLOOD=$ADDR_OUT; FLOOD_PID=$PID_OUT; FLOOD_METRICS=$(metrics_of "$LOG_OUT")
    rss0=$(rss_mb "$FLOOD_PID")
    livez_idle=$(p99_ms "http://$FLOOD/livez" 200)
    # Two clients outside the flood, 61 requests each in well under a
    # second (GCRA gives one back per second at 60/min): one early in the
    # flood, one at its end, with the most keys seen.
    known() { local t=$(date +%s.%N) c; c=$(codes "http://$FLOOD/api/items" 61 -H "x-forwarded-for: $1" -H 'x-forwarded-proto: https'); echo "$c in $(py "f'{$(date +%s.%N) - $t:.2f}'") s"; }
    sent=0; n=0; runs=0; max_keys=0; livez=(); late=""
    t_start=$(date +%s.%N)
    while [ "$sent" -lt "$FLOOD_KEYS" ]; do
        XFF=1 XFF_BASE=$sent load 10s "http://$FLOOD/api/items" > "$TMP/flood.wrk" &
        WRK=$!
        sleep 3
        livez+=("$(p99_ms "http://$FLOOD/livez" 200)")
        keys=$(curl -s "$FLOOD_METRICS" | grep -F 'hardening_ratelimit_tracked_keys{policy="api"}' | cut -d' ' -f2 || true)
        [ "${keys:-0}" -gt "$max_keys" ] && max_keys=$keys
        [ "$runs" = 0 ] && early=$(known 192.0.2.7)
        [ "$((sent + ${n:-0}))" -ge "$FLOOD_KEYS" ] && late=$(known 192.0.2.8)
        wait "$WRK"
        n=$(awk '/requests in/ {print $1}' "$TMP/flood.wrk")
        sent=$((sent + n)); runs=$((runs + 1))
        echo "  flood: $sent distinct addresses so far; $(status_of < "$TMP/flood.wrk"); $(rps < "$TMP/flood.wrk") req/s; /livez p99 ${livez[-1]} ms; tracked keys (api) ${keys:-n/a}; RSS $(rss_mb "$FLOOD_PID") MB"
    done
    flood_secs=$(py "f'{$(date +%s.%N) - $t_start:.0f}'")
    livez_max=$(printf '%s\n' "${livez[@]}" | sort -n | tail -1)
    overflow=$(curl -s "$FLOOD_METRICS" | grep -F 'hardening_ratelimit_overflow_total{policy="api"}' | cut -d' ' -f2 || true)
    [ "$max_keys" = 0 ] && max_keys="n/a (gauge empty)"
    row "2 key flood" \
        "$sent distinct client addresses in ${flood_secs} s ($runs wrk runs, 32 connections): RSS ${rss0} → $(rss_mb "$FLOOD_PID") MB (peak $(hwm_mb "$FLOOD_PID") MB; bound: 100,000 tracked keys per policy), tracked api keys ≤ $max_keys, overflow ${overflow:-0}; /livez p99 ${livez_max} ms under the flood (worst run; idle ${livez_idle} ms)" \
        "clients outside the flood (api 60/min), 61 requests each: early in the flood $early, at its end ${late:-$early} (exact: 200×60 429×1); /livez p99 < 10 ms"
    stop "$FLOOD_PID"
fi

if wanted redis; then
    echo "== 3. Redis killed and restarted under load"
    RPORT=$(free_port); RDIR="$TMP/redis"; mkdir -p "$RDIR"
    redis_up() {
        redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$RDIR" --daemonize yes --pidfile "$RDIR/pid" --logfile "$RDIR/log"
        for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
    }
    rkeys() { redis-cli -p "$RPORT" --scan --pattern 'secure_api:ratelimit:*' | wc -l; }
    redis_up
    start redis env ADDR=127.0.0.1:0 RUST_LOG=warn TRUSTED_PROXIES=127.0.0.1 REDIS_URL="redis://127.0.0.1:$RPORT/" $BIN/secure_api --set server.metrics_addr=off
    RAPI=$ADDR_OUT; RAPI_PID=$PID_OUT
    RUN=$([ "$QUICK" = 1 ] && echo 9 || echo 15); THIRD=$((RUN / 3))
    XFF=1 load "${RUN}s" "http://$RAPI/api/items" > "$TMP/redis.wrk" &
    WRK=$!
    sleep "$THIRD"; keys_before=$(rkeys)
    redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
    sleep "$THIRD"; redis_up; keys_restart=$(rkeys)
    sleep "$((THIRD - 1))"; keys_after=$(rkeys)
    wait "$WRK"
    # A known client after the restart: limited in Redis again.
    known=$(codes "http://$RAPI/api/items" 61 -H 'x-forwarded-for: 192.0.2.9' -H 'x-forwarded-proto: https')
    in_redis=$(redis-cli -p "$RPORT" --scan --pattern 'secure_api:ratelimit:*192.0.2.9*' | wc -l)
    warns=$(grep -c '"level":"WARN"' "$LOG_OUT" || true)
    row "3 Redis killed and restarted" \
        "${RUN} s of load (distinct clients), Redis down from ${THIRD} s to $((2 * THIRD)) s: $(status_of < "$TMP/redis.wrk"), $(rps < "$TMP/redis.wrk") req/s, $(lat_of < "$TMP/redis.wrk"); $warns WARN lines" \
        "no 5xx (policy: fall back to in-memory limits); limiter keys in Redis: $keys_before before the kill, $keys_restart right after the restart, $keys_after $((THIRD - 1)) s later; a known client after it: $known, $in_redis key in Redis"
    redis-cli -p "$RPORT" shutdown nosave >/dev/null 2>&1 || true
    RPORT=
    stop "$RAPI_PID"
fi

if wanted upstream; then
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
    upstream() {
        FAIL=$1 taskset -c 1 python3 "$TMP/upstream.py" "$UPORT" & UP_PID=$!; PIDS+=("$UP_PID")
        for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $UPORT))" 2>/dev/null && return 0; sleep 0.05; done
    }
    upstream 0.5
    start up env ADDR=127.0.0.1:0 RUST_LOG=warn $BIN/secure_api --upstream "http://127.0.0.1:$UPORT/v1/complete" \
        --set rate_limits.llm=1000000000/min --set server.metrics_addr=off --set retry.backoff_base_ms=20 \
        --set retry.backoff_max_ms=80 --set circuit.open_ms=2000 --set circuit.max_open_ms=2000
    UAPI=$ADDR_OUT; UAPI_PID=$PID_OUT
    # Background load on /api/items all along: the breaker's work is not alone.
    CONNS=8 load 30s "http://$UAPI/api/items" > "$TMP/up.wrk" &
    UWRK=$!
    post() {
        curl -s -o /dev/null -D "$TMP/h" -w '%{http_code} %{time_total}' -X POST -H 'content-type: application/json' -d '{"prompt":"hi"}' "http://$UAPI/llm/complete"
        grep -qi '^retry-after:' "$TMP/h" && echo " ra" || echo " -"
    }
    # phase N: N sequential completions -> "200×n 502×m 503×k (503s: slowest x ms, all with Retry-After)"
    phase() { for _ in $(seq 1 "$1"); do post; done | awk '
        {c[$1]++; if ($1==503) {n503++; if ($2>m) m=$2; if ($3=="ra") ra++}}
        END {s=""; for (k in c) s=s sprintf("%s%s×%d", (s==""?"":" "), k, c[k]); printf "%s", s;
             if (n503) printf " (503s: slowest %.1f ms, %d of %d with Retry-After)", m*1000, ra, n503}'; }
    half=$(phase 40)
    stop "$UP_PID"
    dead=$(phase 40); livez_dead=$(p99_ms "http://$UAPI/livez" 200)
    upstream 0
    t_heal=$(date +%s.%N)
    healed_first=""
    for _ in $(seq 1 100); do
        c=$(post | cut -d' ' -f1)
        if [ "$c" = 200 ]; then healed_first=$(py "f'{$(date +%s.%N) - $t_heal:.1f}'"); break; fi
        sleep 0.1
    done
    healed=$(phase 20)
    kill "$UWRK" 2>/dev/null || true; wait "$UWRK" 2>/dev/null || true
    row "4 upstream failing → dead → healed" \
        "50 % failing: $half; dead: $dead; healed: first 200 after ${healed_first:-never} s, then $healed" \
        "503 + Retry-After at once while open; back through half-open (open period 2 s); /livez p99 while dead ${livez_dead} ms"
    stop "$UAPI_PID"; stop "$UP_PID"
fi

if wanted slow; then
    echo "== 5. slow clients: 5,000 idle connections + 50 trickling bodies"
    start slow env ADDR=127.0.0.1:0 RUST_LOG=warn HEADER_READ_TIMEOUT_MS=3000 IDLE_TIMEOUT_MS=5000 $BIN/secure_api \
        "${OURS_ARGS[@]}" --set rate_limits.llm=1000000000/min --set requests.body_deadline_ms=5000
    SAPI=$ADDR_OUT; SAPI_PID=$PID_OUT
    cat > "$TMP/slow.py" <<'PY'
import socket, sys, time, select
host, port = sys.argv[1].rsplit(":", 1); port = int(port)
hold = float(sys.argv[2])
idle = []
for i in range(5000):
    s = socket.socket(); s.connect((host, port)); idle.append(s)
trickle = []
for i in range(50):
    s = socket.socket(); s.connect((host, port))
    s.sendall(b"POST /llm/complete HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
    trickle.append(s)
by_fd = {s.fileno(): s for s in idle + trickle}
poller = select.poll()
for s in idle + trickle: poller.register(s, select.POLLIN)
print("open", flush=True)
start = time.time()
idle_closed_at = {}
trickle_done_at = {}
trickle_status = {}
last_send = 0.0
while time.time() - start < hold:
    if time.time() - last_send >= 0.2:  # one byte per body every 200 ms
        last_send = time.time()
        for s in trickle:
            if s in trickle_done_at: continue
            try: s.send(b"x")
            except OSError:
                trickle_done_at[s] = time.time() - start
                poller.unregister(s)
    for fd, _ in poller.poll(200):
        s = by_fd[fd]
        if s in idle_closed_at or s in trickle_done_at: continue
        try: data = s.recv(4096)
        except OSError: data = b""
        if s in trickle:
            trickle_done_at[s] = time.time() - start
            trickle_status[s] = data[9:12].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
            poller.unregister(s)
        elif not data:
            idle_closed_at[s] = time.time() - start
            poller.unregister(s)
ic = sorted(idle_closed_at.values()); tc = sorted(trickle_done_at.values())
print(f"closed {len(ic)} of {len(idle)} idle connections (first {ic[0] if ic else 0:.1f} s, last {ic[-1] if ic else 0:.1f} s); "
      f"{len(tc)} of {len(trickle)} trickling bodies cut off (first {tc[0] if tc else 0:.1f} s, last {tc[-1] if tc else 0:.1f} s; answers: "
      + ", ".join(f"{k}×{v}" for k, v in sorted(__import__("collections").Counter(trickle_status.values()).items())) + ")")
PY
    HOLD=12
    taskset -c 1 python3 "$TMP/slow.py" "$SAPI" "$HOLD" > "$TMP/slow.out" &
    SLOW=$!
    for _ in $(seq 1 200); do grep -q open "$TMP/slow.out" 2>/dev/null && break; sleep 0.05; done
    conns=$(ss -Htn state established "( sport = :${SAPI##*:} )" | wc -l)
    out=$(CONNS=16 load 2s "http://$SAPI/api/items")
    fresh=$(for _ in $(seq 1 50); do curl -s -o /dev/null -w '%{time_total}\n' "http://$SAPI/api/items"; done | sort -n | tail -1)
    wait "$SLOW"
    row "5 slow clients" \
        "with $conns connections open to the server (5,000 idle + 50 trickling): wrk 16 connections $(echo "$out" | rps) req/s, $(echo "$out" | lat_of), $(echo "$out" | status_of); 50 new connections: slowest $(py "f'{$fresh*1000:.1f}'") ms" \
        "$(tail -1 "$TMP/slow.out" | sed 's/^open$//') within ${HOLD} s (header-read timeout 3 s, body deadline 5 s)"
    stop "$SAPI_PID"
fi

if wanted sigterm; then
    echo "== 6. SIGTERM under load"
    start term env ADDR=127.0.0.1:0 RUST_LOG=warn DRAIN_DELAY_MS=1000 SHUTDOWN_DEADLINE_MS=3000 UPSTREAM_LATENCY_MS=1500 $BIN/secure_api \
        "${OURS_ARGS[@]}" --set rate_limits.llm=1000000000/min
    TAPI=$ADDR_OUT; TAPI_PID=$PID_OUT
    CONNS=16 load 6s "http://$TAPI/api/items" > "$TMP/term.wrk" &
    WRK=$!
    sleep 1
    # In-flight slow requests (1.5 s upstream) that must finish.
    for i in 1 2 3 4; do
        curl -s -o "$TMP/inflight$i" -w '%{http_code}\n' -X POST -H 'content-type: application/json' -d '{"prompt":"slow"}' "http://$TAPI/llm/complete" >> "$TMP/inflight.codes" &
    done
    sleep 0.3
    t0=$(date +%s.%N)
    kill -TERM "$TAPI_PID"
    ready=""
    for _ in $(seq 1 40); do
        ready=$(curl -s -o /dev/null -w '%{http_code}' "http://$TAPI/readyz" || true)
        [ "$ready" = 503 ] && break; sleep 0.02
    done
    flip=$(py "f'{$(date +%s.%N) - $t0:.2f}'")
    wait "$TAPI_PID" 2>/dev/null && rc=0 || rc=$?
    t1=$(date +%s.%N)
    wait "$WRK" || true
    while [ "$(wc -l < "$TMP/inflight.codes")" -lt 4 ]; do sleep 0.05; done
    inflight=$(sort "$TMP/inflight.codes" | uniq -c | awk '{printf "%s%s×%s", (NR>1?" ":""), $2, $1}')
    complete=$(grep -l completion "$TMP"/inflight? | wc -l)
    errs=$(grep -E 'Socket errors|Non-2xx' "$TMP/term.wrk" | tr -s ' ' | tr '\n' ' ' || true)
    row "6 SIGTERM under load" \
        "/readyz 503 after ${flip} s; exit status $rc after $(py "f'{$t1-$t0:.2f}'") s (drain 1 s, deadline 3 s); wrk: $(status_of < "$TMP/term.wrk") ${errs:-no socket errors}" \
        "4 in-flight /llm (1.5 s upstream): $inflight, $complete complete bodies; connection errors only after the listener closed (connect), none mid-response (read)"
fi

if wanted overload; then
    echo "== 7. overload (issue 18): knee at 64 in flight (64 workers × 10 ms), offered 2× capacity, clients give up after 100 ms"
    start cap env $BIN/overload serve --limiter queueing
    cap=$(CONNS=128 load 5s "http://$ADDR_OUT/work" | rps)
    stop "$PID_OUT"
    echo "  capacity (wrk, 128 connections, queueing server: all 64 workers always busy): $cap req/s"
    offered=$(py "int(2 * $cap)")
    declare -A GOOD DETAIL
    for who in gradient2 queueing; do
        start "ov_$who" $BIN/overload serve --limiter "$who"
        out=$(taskset -c 1 $BIN/overload load --url "http://$ADDR_OUT/work" --rate "$offered" --secs "$OVERLOAD_SECS" --warmup-secs 2)
        limit=$(grep '^limit' "$LOG_OUT" | tail -1 | cut -d' ' -f2 || true)
        echo "  $who: $out${limit:+ (limit $limit)}"
        GOOD[$who]=$(echo "$out" | grep -o 'goodput=[0-9]*' | cut -d= -f2)
        DETAIL[$who]="$(echo "$out" | sed 's/^OVERLOAD //; s/offered=[^ ]* //; s/sent=[^ ]* //')${limit:+, final limit $limit}"
        stop "$PID_OUT"
    done
    row "7 overload (issue 18)" \
        "capacity $(py "f'{$cap:,.0f}'") req/s (64 workers × 10 ms), offered $(py "f'{$offered:,}'")/s open loop for ${OVERLOAD_SECS} s (first 2 s not counted), 100 ms client deadline; hardening Gradient2: ${DETAIL[gradient2]}; tower ConcurrencyLimit(64), queueing: ${DETAIL[queueing]}" \
        "goodput ours **$(py "f'{${GOOD[gradient2]}/$cap:.2f}'")× capacity** (target ≥ 0.9), queueing $(py "f'{${GOOD[queueing]}/$cap:.2f}'")×"
fi

echo
echo "$(date -u +%Y-%m-%d), \`flock /tmp/cpu.lock bash examples/load/run.sh${*:+ $*}\`, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
echo
echo "| scenario | figures | checks |"
echo "|---|---|---|"
printf '%s\n' "${ROWS[@]}"
