#!/usr/bin/env bash
# Races the example servers against real clients, and against the same
# programs on tokio and (for RESP) against a real redis-server:
#
#   redis-benchmark -P 1 and -P 16 (SET, GET): resp_server (corio),
#                   redis-server, resp_server_tokio
#   wrk GET /:      http_server (corio), http_server_tokio, hyper_server
#                   (hyper's HTTP/1.1 server on corio: the `hyper` feature)
#
# Servers run pinned to CPU 0, clients to CPU 1, on 127.0.0.1 only. The
# servers are started afresh and alternated in rounds (the starting server
# rotates each round), so drift in machine load hits all of them alike.
# Prints, per server and test, the median requests/s over the rounds with
# min and max, and the ratios corio/redis-server and corio/tokio; then the
# server's CPU time per request (from /proc/PID/task/*/schedstat), which
# measures the server alone: throughput also measures the client and
# whatever else the machine is doing. Last, the load generator's own CPU
# time (user + system, from bash's `time`, which reads the rusage of the
# waited-for client): its utilisation (CPU time over wall time; 100% = one
# whole CPU) and CPU per request. redis-benchmark and wrk -t1 each do their
# work on one thread, so a client near 100% is the bottleneck, whatever the
# server could do.
#
# Usage: benches/real_servers.sh [--quick] [--rounds N]
#   --quick     2 rounds, 20k requests per redis-benchmark test, wrk for 2 s
#               (under a minute; a smoke test, not a measurement)
#   --rounds N  rounds in full mode (default 5, at least 3 recommended)
#
# Needs: cargo, taskset, redis-benchmark (redis-tools), wrk, redis-server.
# Missing redis-server or wrk are installed with apt-get when run as root.
set -euo pipefail

cd "$(dirname "$0")/.."

quick=0
rounds=5
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --rounds) rounds="$2"; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    rounds=2 requests=20000 wrk_secs=2
else
    requests=200000 wrk_secs=10
fi

server_cpu=0
client_cpu=1

# --- tools -------------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need redis-server || missing+=(redis-server)
need wrk || missing+=(wrk)
need redis-benchmark || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && need apt-get; then
        echo "installing ${missing[*]}" >&2
        apt-get install -y "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
for tool in taskset redis-cli timeout; do
    need "$tool" || { echo "missing: $tool" >&2; exit 1; }
done

# --- build -------------------------------------------------------------------
cargo build --release --quiet --features hyper \
    --example resp_server --example resp_server_tokio \
    --example http_server --example http_server_tokio --example hyper_server
bin=target/release/examples

# --- server lifecycle --------------------------------------------------------
work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

server_pid=
server_port=

# A free port on 127.0.0.1 (for redis-server, which cannot use port 0).
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

# start NAME: starts the server pinned to $server_cpu; sets server_pid and
# server_port once it accepts connections.
start() {
    local name=$1 out="$work/$1.out" i
    : >"$out"
    case "$name" in
        redis-server)
            server_port=$(free_port)
            taskset -c "$server_cpu" redis-server --bind 127.0.0.1 --port "$server_port" \
                --save '' --appendonly no --daemonize no --logfile "" >"$out" 2>&1 &
            ;;
        *)
            taskset -c "$server_cpu" "$bin/$name" --addr 127.0.0.1 --port 0 >"$out" 2>&1 &
            ;;
    esac
    server_pid=$!
    pids+=("$server_pid")
    for i in $(seq 100); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$name exited at start:" >&2
            cat "$out" >&2
            exit 1
        fi
        if [ "$name" = redis-server ]; then
            redis-cli -h 127.0.0.1 -p "$server_port" ping >/dev/null 2>&1 && return
        elif grep -q "listening on" "$out"; then
            server_port=$(head -1 "$out" | sed 's/.*://')
            return
        fi
        sleep 0.05
    done
    echo "$name did not start:" >&2
    cat "$out" >&2
    exit 1
}

stop() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

# --- clients -----------------------------------------------------------------
results="$work/results"
: >"$results"

# record SERVER TEST RPS
record() {
    if [ -z "$3" ]; then
        echo "no result for $1 $2" >&2
        exit 1
    fi
    echo "$1 $2 $3" >>"$results"
    printf '  %-18s %-12s %12.0f req/s\n' "$1" "$2" "$3" >&2
}

# CPU time the server has used so far, in ns, summed over its threads (the
# scheduler's own account; updated whenever a thread is switched out, so
# exact once the server sits idle in epoll_wait after a client finishes).
server_cpu_ns() {
    awk '{ sum += $1 } END { printf "%.0f", sum }' /proc/"$server_pid"/task/*/schedstat
}

# record_cpu SERVER TEST CPU_NS_BEFORE REQUESTS: server CPU ns per request.
record_cpu() {
    sleep 0.2 # let the server finish the last replies and go idle
    local used=$(($(server_cpu_ns) - $3))
    echo "$1 $2 $(awk -v u="$used" -v r="$4" 'BEGIN { printf "%.1f", u / r }')" >>"$results"
}

# timed CMD...: runs the client CMD with its output in $work/client.out and
# sets client_wall and client_secs (user + system), in seconds. bash's `time`
# reports the rusage of the children it waited for, which includes the
# client under timeout and taskset.
client_wall=0
client_secs=0
timed() {
    local user sys
    { time "$@" >"$work/client.out" 2>&3; } 3>&2 2>"$work/client.time"
    read -r client_wall user sys <"$work/client.time"
    client_secs=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
}

# record_client SERVER TEST REQUESTS: the last timed client's utilisation (%
# of one CPU) and CPU ns per request.
record_client() {
    echo "$1 client_util_$2 $(awk -v c="$client_secs" -v w="$client_wall" 'BEGIN { printf "%.1f", 100 * c / w }')" >>"$results"
    echo "$1 client_ns_$2 $(awk -v c="$client_secs" -v r="$3" 'BEGIN { printf "%.1f", c * 1e9 / r }')" >>"$results"
}
TIMEFORMAT='%3R %3U %3S'

run_redis_benchmark() {
    local name=$1 pipeline csv before
    for pipeline in 1 16; do
        before=$(server_cpu_ns)
        timed timeout 300 taskset -c "$client_cpu" redis-benchmark -h 127.0.0.1 -p "$server_port" \
            -n "$requests" -c 50 -t set,get -P "$pipeline" --csv
        csv=$(cat "$work/client.out")
        record_cpu "$name" "cpu_P$pipeline" "$before" $((2 * requests))
        record_client "$name" "P$pipeline" $((2 * requests))
        record "$name" "SET_P$pipeline" "$(awk -F'"' '$2 == "SET" { print $4 }' <<<"$csv")"
        record "$name" "GET_P$pipeline" "$(awk -F'"' '$2 == "GET" { print $4 }' <<<"$csv")"
    done
}

run_wrk() {
    local name=$1 out before count
    before=$(server_cpu_ns)
    timed timeout $((wrk_secs + 60)) taskset -c "$client_cpu" wrk -t1 -c50 -d"${wrk_secs}s" \
        "http://127.0.0.1:$server_port/"
    out=$(cat "$work/client.out")
    count=$(awk '/ requests in / { print $1 }' <<<"$out")
    record_cpu "$name" "cpu_wrk" "$before" "$count"
    record_client "$name" wrk "$count"
    record "$name" "wrk_GET_/" "$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
}

bench() {
    start "$1"
    case "$1" in
        http_* | hyper_*) run_wrk "$1" ;;
        *) run_redis_benchmark "$1" ;;
    esac
    stop
}

resp_servers=(resp_server redis-server resp_server_tokio)
http_servers=(http_server http_server_tokio hyper_server)
for round in $(seq "$rounds"); do
    echo "round $round/$rounds" >&2
    for i in 0 1 2; do
        bench "${resp_servers[$(((round + i) % 3))]}"
    done
    for i in 0 1 2; do
        bench "${http_servers[$(((round + i) % 3))]}"
    done
done

# --- table -------------------------------------------------------------------
# Median, min and max per server and test; ratios of medians.
summary="$work/summary"
sort -k1,1 -k2,2 -k3,3g "$results" | awk '
    { key = $1 " " $2; v[key, ++n[key]] = $3; if (!(key in seen)) { seen[key] = 1; keys[++k] = key } }
    END {
        for (i = 1; i <= k; i++) {
            key = keys[i]; c = n[key]
            med = (c % 2) ? v[key, (c + 1) / 2] : (v[key, c / 2] + v[key, c / 2 + 1]) / 2
            print key, med, v[key, 1], v[key, c]
        }
    }' >"$summary"

echo
echo "rounds: $rounds; redis-benchmark -n $requests -c 50; wrk -t1 -c50 -d${wrk_secs}s;" \
    "server on CPU $server_cpu, client on CPU $client_cpu"
echo "requests/s: median (min-max) over rounds"
echo
awk '
    function cell(s, t) { return (s SUBSEP t in med) ? sprintf("%.0f (%.0f-%.0f)", med[s, t], lo[s, t], hi[s, t]) : "-" }
    function cpu(s, t) { return (s SUBSEP t in med) ? sprintf("%.0f (%.0f-%.0f)", med[s, t], lo[s, t], hi[s, t]) : "-" }
    function ratio(a, b, t) { return ((a SUBSEP t in med) && (b SUBSEP t in med)) ? sprintf("%.2fx", med[a, t] / med[b, t]) : "-" }
    { med[$1, $2] = $3; lo[$1, $2] = $4; hi[$1, $2] = $5 }
    END {
        fmt = "| %-10s | %-26s | %-26s | %-26s | %-11s | %-11s |\n"
        printf fmt, "test", "corio", "redis-server", "tokio", "corio/redis", "corio/tokio"
        printf "|%s|%s|%s|%s|%s|%s|\n", "------------", "----------------------------", "----------------------------", "----------------------------", "-------------", "-------------"
        n = split("SET_P1 GET_P1 SET_P16 GET_P16", tests, " ")
        for (i = 1; i <= n; i++) {
            t = tests[i]
            printf fmt, t, cell("resp_server", t), cell("redis-server", t), cell("resp_server_tokio", t), ratio("resp_server", "redis-server", t), ratio("resp_server", "resp_server_tokio", t)
        }
        t = "wrk_GET_/"
        printf fmt, "wrk GET /", cell("http_server", t), "-", cell("http_server_tokio", t), "-", ratio("http_server", "http_server_tokio", t)
        print ""
        print "server CPU time per request, ns: median (min-max); ratio = other/corio, so above 1 means corio is cheaper"
        print ""
        fmt = "| %-10s | %-20s | %-20s | %-20s | %-11s | %-11s |\n"
        printf fmt, "test", "corio", "redis-server", "tokio", "redis/corio", "tokio/corio"
        printf "|%s|%s|%s|%s|%s|%s|\n", "------------", "----------------------", "----------------------", "----------------------", "-------------", "-------------"
        n = split("cpu_P1 cpu_P16", tests, " ")
        for (i = 1; i <= n; i++) {
            t = tests[i]
            printf fmt, "SET+GET " substr(t, 5), cpu("resp_server", t), cpu("redis-server", t), cpu("resp_server_tokio", t), ratio("redis-server", "resp_server", t), ratio("resp_server_tokio", "resp_server", t)
        }
        t = "cpu_wrk"
        printf fmt, "wrk GET /", cpu("http_server", t), "-", cpu("http_server_tokio", t), "-", ratio("http_server_tokio", "http_server", t)
        print ""
        print "load generator (client) CPU, by the server it drove: utilisation in % of one CPU, and CPU ns per request;"
        print "median (min-max). A client near 100% was the bottleneck: the requests/s above are its limit"
        print ""
        fmt = "| %-18s | %-20s | %-20s | %-20s |\n"
        printf fmt, "test", "corio", "redis-server", "tokio"
        printf "|%s|%s|%s|%s|\n", "--------------------", "----------------------", "----------------------", "----------------------"
        n = split("P1 P16", tests, " ")
        for (i = 1; i <= n; i++) {
            t = "client_util_" tests[i]
            printf fmt, "SET+GET " tests[i] " util %", cpu("resp_server", t), cpu("redis-server", t), cpu("resp_server_tokio", t)
            t = "client_ns_" tests[i]
            printf fmt, "SET+GET " tests[i] " ns/req", cpu("resp_server", t), cpu("redis-server", t), cpu("resp_server_tokio", t)
        }
        printf fmt, "wrk GET / util %", cpu("http_server", "client_util_wrk"), "-", cpu("http_server_tokio", "client_util_wrk")
        printf fmt, "wrk GET / ns/req", cpu("http_server", "client_ns_wrk"), "-", cpu("http_server_tokio", "client_ns_wrk")
        print ""
        print "HTTP/1.1 servers under wrk GET /: the hand-written http_server and hyper'"'"'s server, both on corio,"
        print "and http_server on tokio. median (min-max); ratios of medians"
        print ""
        fmt = "| %-22s | %-26s | %-26s | %-26s | %-18s |\n"
        printf fmt, "wrk GET /", "http_server (corio)", "hyper_server (corio)", "http_server_tokio", "hyper/http_server"
        printf "|%s|%s|%s|%s|%s|\n", "------------------------", "----------------------------", "----------------------------", "----------------------------", "--------------------"
        printf fmt, "requests/s", cell("http_server", "wrk_GET_/"), cell("hyper_server", "wrk_GET_/"), cell("http_server_tokio", "wrk_GET_/"), ratio("hyper_server", "http_server", "wrk_GET_/")
        printf fmt, "server CPU ns/request", cpu("http_server", "cpu_wrk"), cpu("hyper_server", "cpu_wrk"), cpu("http_server_tokio", "cpu_wrk"), ratio("hyper_server", "http_server", "cpu_wrk")
        printf fmt, "client CPU util %", cpu("http_server", "client_util_wrk"), cpu("hyper_server", "client_util_wrk"), cpu("http_server_tokio", "client_util_wrk"), "-"
    }' "$summary"
