#!/usr/bin/env bash
# Runs every benchmark corio has, one after the other, and keeps their
# output together in one folder, so a newcomer gets the whole picture with
# one command.
#
#   1. the criterion suites (runtime, sync, tcp_echo, rpc), corio beside
#      tokio current_thread and async-executor in each group;
#   2. examples/remote_tasks (100,000 concurrent RPC calls on one thread);
#   3. examples/timer_precision and examples/idle_tasks;
#   4. examples/scaling (memory and time vs number of tasks/connections,
#      with SVG plots);
#   5. benches/real_servers.sh (redis-benchmark and wrk against the example
#      servers, redis-server and the tokio twins), when the tools exist.
#
# Each step prints what is running and how many steps are left; the raw
# output of each lands in target/bench-all/<step>.txt and a summary of
# wall times in target/bench-all/summary.txt. Numbers for docs/BENCHMARKS.md
# are copied from those files by hand, with the command that made them.
#
# Usage: benches/run-all.sh [--quick]
#   --quick   criterion in --test mode (each body once), small sizes, short
#             rounds: a smoke test of the whole pipeline in a few minutes
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

out=target/bench-all
mkdir -p "$out"
: > "$out/summary.txt"

# Pin the single-threaded work to CPU 1 when taskset exists; the TCP benches
# pin their server and client threads themselves.
pin=()
command -v taskset >/dev/null && pin=(taskset -c 1)

if [ "$quick" = 1 ]; then
    criterion_args=(-- --test)
    steps=(
        "runtime|${pin[*]} cargo bench --bench runtime ${criterion_args[*]}"
        "sync|${pin[*]} cargo bench --bench sync ${criterion_args[*]}"
        "tcp_echo|cargo bench --bench tcp_echo ${criterion_args[*]}"
        "rpc|cargo bench --bench rpc ${criterion_args[*]}"
        "remote_tasks|target/release/examples/remote_tasks 10000"
        "timer_precision|${pin[*]} target/release/examples/timer_precision 200"
        "idle_tasks|${pin[*]} target/release/examples/idle_tasks 100000"
        "scaling|target/release/examples/scaling --quick --csv $out/scaling.csv"
        "real_servers|benches/real_servers.sh --quick"
    )
else
    steps=(
        "runtime|${pin[*]} cargo bench --bench runtime -- --noplot"
        "sync|${pin[*]} cargo bench --bench sync -- --noplot"
        "tcp_echo|cargo bench --bench tcp_echo -- --noplot"
        "rpc|cargo bench --bench rpc -- --noplot"
        "remote_tasks|target/release/examples/remote_tasks"
        "timer_precision|${pin[*]} target/release/examples/timer_precision"
        "idle_tasks|${pin[*]} target/release/examples/idle_tasks"
        "scaling|${pin[*]} target/release/examples/scaling --plot $out --csv $out/scaling.csv"
        "real_servers|benches/real_servers.sh --rounds 3"
    )
fi

echo "building release examples and benches (once, before anything is timed)"
cargo build --release --examples -q
cargo bench --no-run -q 2>/dev/null || cargo bench --no-run

total=${#steps[@]}
start_all=$(date +%s)
failed=0
for i in "${!steps[@]}"; do
    name=${steps[$i]%%|*}
    cmd=${steps[$i]#*|}
    n=$((i + 1))
    elapsed=$(( $(date +%s) - start_all ))
    printf '\n[%d/%d] %s  (%d steps left, %ds elapsed)\n  $ %s\n' "$n" "$total" "$name" "$((total - n))" "$elapsed" "$cmd"
    t0=$(date +%s)
    if [ "$name" = real_servers ] && ! command -v redis-benchmark >/dev/null && [ "$(id -u)" != 0 ]; then
        echo "  skipped: redis-benchmark missing and not root to install it" | tee -a "$out/summary.txt"
        continue
    fi
    if bash -c "$cmd" > "$out/$name.txt" 2>&1; then
        status=ok
    else
        status=FAILED
        failed=1
    fi
    t1=$(date +%s)
    printf '  %s in %ds -> %s\n' "$status" "$((t1 - t0))" "$out/$name.txt"
    printf '%-16s %-6s %4ds  %s\n' "$name" "$status" "$((t1 - t0))" "$cmd" >> "$out/summary.txt"
done

printf '\nall steps done in %ds; summary:\n' "$(( $(date +%s) - start_all ))"
cat "$out/summary.txt"
exit $failed
