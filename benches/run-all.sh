#!/usr/bin/env bash
# Runs every benchmark corio has, one after the other, and keeps their
# output together in one folder, so a newcomer gets the whole picture with
# one command.
#
#   1. the criterion suites (runtime, sync, tcp_echo, rpc), corio beside
#      tokio current_thread and async-executor (or the mio loop, or raw TCP)
#      in each group, repeated in rounds: within a round criterion runs a
#      group's peers back to back, and the rounds spread every peer over the
#      whole run, so drift in machine load hits all of them alike. After each
#      suite, criterion's per-function estimates (target/criterion/<group>/
#      <function>/new/{estimates,benchmark}.json) are copied to
#      target/bench-all/rounds/<round>/ before the next round overwrites them;
#   2. examples/remote_tasks (100,000 concurrent RPC calls on one thread);
#   3. examples/timer_precision and examples/idle_tasks;
#   4. examples/scaling (memory and time vs number of tasks/connections,
#      with SVG plots);
#   5. benches/real_servers.sh (redis-benchmark and wrk against the example
#      servers, redis-server and the tokio twins; it alternates the servers
#      in rounds itself), when the tools exist.
#
# Then examples/bench_report turns the saved rounds into a markdown section
# (per group: each peer's median across rounds with min/max, and the time
# ratio corio/peer), with the real-server tables after it, writes it to
# target/bench-all/report.md and, in full mode only, puts it between the
# `<!-- run-all:begin -->` and `<!-- run-all:end -->` lines of
# docs/BENCHMARKS.md, with the date, nproc, load averages and this command.
# criterion's own HTML report, with plots, is target/criterion/report/index.html.
#
# Each step prints what is running, how many steps are left and an estimate
# of the time left (from this run's earlier rounds of the same step, else
# the previous run's durations, else a built-in guess). Raw output of each
# step lands in target/bench-all/<step>.txt, wall times in summary.txt.
#
# Usage: benches/run-all.sh [--quick] [--rounds N]
#   --rounds N  rounds of the criterion suites and of real_servers.sh
#               (default 3; 1 with --quick)
#   --quick     a smoke test of the whole pipeline (3 to 4 minutes here,
#               most of it criterion drawing plots): criterion's --quick
#               mode (a fraction of a second per function), small sizes,
#               short client runs. Its numbers mean nothing; the report goes
#               to target/bench-all/report.md only, never to
#               docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

command_line="benches/run-all.sh${*:+ $*}"
quick=0
rounds=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --rounds)
            rounds="${2:-}"
            shift
            ;;
        -h | --help)
            sed -n '2,43p' "$0"
            exit 0
            ;;
        *)
            echo "unknown argument $1" >&2
            exit 2
            ;;
    esac
    shift
done
if [ -z "$rounds" ]; then
    rounds=$((quick ? 1 : 3))
fi
case "$rounds" in
    '' | *[!0-9]* | 0)
        echo "--rounds needs a positive number" >&2
        exit 2
        ;;
esac

out=target/bench-all
mode=$([ "$quick" = 1 ] && echo quick || echo full)
mkdir -p "$out"
rm -rf "$out/rounds"
: >"$out/summary.txt"
# Durations of the previous run in this mode: "name seconds" lines.
durations="$out/durations-$mode.txt"
previous="$out/durations-$mode.prev"
[ -f "$durations" ] && mv "$durations" "$previous"
touch "$previous"

# Pin the single-threaded work to CPU 1 when taskset exists; the TCP benches
# pin their server and client threads themselves.
pin=()
command -v taskset >/dev/null && pin=(taskset -c 1)

# A step is "name|criterion round or -|guessed seconds|command". The guesses
# only seed the time-left estimate until a measured duration exists.
steps=()
# plot_guess ROUND SECONDS: the guessed extra time of the plotted round.
plot_guess() {
    if [ "$1" = "$rounds" ]; then echo "$2"; else echo 0; fi
}
# criterion_flags ROUND: the arguments for criterion. Its plots (the HTML
# report) cost about as much as the measuring itself, so only the last round
# draws them: the HTML report shows that round.
criterion_flags() {
    local flags=()
    [ "$quick" = 1 ] && flags+=(--quick)
    [ "$1" != "$rounds" ] && flags+=(--noplot)
    echo "${flags[*]:+-- ${flags[*]}}"
}
if [ "$quick" = 1 ]; then
    for round in $(seq "$rounds"); do
        criterion_args=$(criterion_flags "$round")
        steps+=(
            "runtime|$round|$((15 + $(plot_guess "$round" 75)))|${pin[*]} cargo bench --bench runtime $criterion_args"
            "sync|$round|$((3 + $(plot_guess "$round" 40)))|${pin[*]} cargo bench --bench sync $criterion_args"
            "tcp_echo|$round|$((6 + $(plot_guess "$round" 40)))|cargo bench --bench tcp_echo $criterion_args"
            "rpc|$round|$((6 + $(plot_guess "$round" 30)))|cargo bench --bench rpc $criterion_args"
        )
    done
    steps+=(
        "remote_tasks|-|5|target/release/examples/remote_tasks 10000"
        "timer_precision|-|5|${pin[*]} target/release/examples/timer_precision 200"
        "idle_tasks|-|5|${pin[*]} target/release/examples/idle_tasks 100000"
        "scaling|-|15|target/release/examples/scaling --quick --csv $out/scaling.csv"
        "real_servers|-|30|benches/real_servers.sh --quick"
    )
else
    for round in $(seq "$rounds"); do
        criterion_args=$(criterion_flags "$round")
        steps+=(
            "runtime|$round|$((70 + $(plot_guess "$round" 75)))|${pin[*]} cargo bench --bench runtime $criterion_args"
            "sync|$round|$((30 + $(plot_guess "$round" 40)))|${pin[*]} cargo bench --bench sync $criterion_args"
            "tcp_echo|$round|$((60 + $(plot_guess "$round" 40)))|cargo bench --bench tcp_echo $criterion_args"
            "rpc|$round|$((40 + $(plot_guess "$round" 30)))|cargo bench --bench rpc $criterion_args"
        )
    done
    steps+=(
        "remote_tasks|-|10|target/release/examples/remote_tasks"
        "timer_precision|-|10|${pin[*]} target/release/examples/timer_precision"
        "idle_tasks|-|15|${pin[*]} target/release/examples/idle_tasks"
        "scaling|-|100|${pin[*]} target/release/examples/scaling --plot $out --csv $out/scaling.csv"
        "real_servers|-|$((70 * rounds))|benches/real_servers.sh --rounds $rounds"
    )
fi

# key NAME ROUND: what a step's duration is filed under. The plotted last
# round of a criterion suite is slower than the others, so it has its own.
key() {
    if [ "$2" = "$rounds" ]; then echo "$1+plots"; else echo "$1"; fi
}

# estimate KEY GUESS: seconds one run of the step filed under KEY is
# expected to take.
estimate() {
    local measured
    measured=$(awk -v n="$1" '$1 == n { s = $2 } END { print s }' "$durations" 2>/dev/null)
    [ -z "$measured" ] && measured=$(awk -v n="$1" '$1 == n { s = $2 } END { print s }' "$previous")
    echo "${measured:-$2}"
}

echo "building release examples and benches (once, before anything is timed)"
cargo build --release --examples -q
cargo bench --no-run -q 2>/dev/null || cargo bench --no-run

: >"$durations"
total=${#steps[@]}
start_all=$(date +%s)
start_date=$(date -u '+%Y-%m-%d %H:%M')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
load_criterion=$load_start
failed=0
criterion_failed=0
marker="$out/.step-start"
for i in "${!steps[@]}"; do
    IFS='|' read -r name round _ cmd <<<"${steps[$i]}"
    n=$((i + 1))
    left=0
    for j in $(seq "$i" $((total - 1))); do
        IFS='|' read -r other other_round guess _ <<<"${steps[$j]}"
        left=$((left + $(estimate "$(key "$other" "$other_round")" "$guess")))
    done
    label=$name
    [ "$round" != - ] && label="$name (round $round/$rounds)"
    printf '\n[%d/%d] %s  (%d steps left after this; %ds elapsed, about %ds to go)\n  $ %s\n' \
        "$n" "$total" "$label" "$((total - n))" "$(($(date +%s) - start_all))" "$left" "$cmd"
    if [ "$name" = real_servers ] && ! command -v redis-benchmark >/dev/null && [ "$(id -u)" != 0 ]; then
        echo "  skipped: redis-benchmark missing and not root to install it" | tee -a "$out/summary.txt"
        continue
    fi
    log="$out/$name.txt"
    [ "$round" != - ] && log="$out/$name.round$round.txt"
    t0=$(date +%s)
    touch "$marker"
    if bash -c "$cmd" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed=1
        [ "$round" != - ] && criterion_failed=1
    fi
    t1=$(date +%s)
    echo "$(key "$name" "$round") $((t1 - t0))" >>"$durations"
    if [ "$round" != - ]; then
        # Save this round's estimates before the next round overwrites them.
        saved=0
        while IFS= read -r file; do
            dir=$(dirname "${file#target/criterion/}")
            mkdir -p "$out/rounds/$round/$dir"
            cp "$file" "$(dirname "$file")/benchmark.json" "$out/rounds/$round/$dir/"
            saved=$((saved + 1))
        done < <(find target/criterion -path '*/new/estimates.json' -newer "$marker" 2>/dev/null)
        printf '  saved %d estimates to %s\n' "$saved" "$out/rounds/$round/"
    fi
    printf '  %s in %ds -> %s\n' "$status" "$((t1 - t0))" "$log"
    printf '%-16s %-5s %-6s %4ds  %s\n' "$name" "$round" "$status" "$((t1 - t0))" "$cmd" >>"$out/summary.txt"
    if [ "$round" != - ]; then load_criterion=$(cut -d' ' -f1-3 /proc/loadavg); fi
done
rm -f "$marker"

# --- report ------------------------------------------------------------------
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit plus uncommitted changes"
extra="$out/real_servers.md"
: >"$extra"
if [ -f "$out/real_servers.txt" ] && grep -q '^rounds: ' "$out/real_servers.txt"; then
    {
        printf '\n#### Real clients (`benches/real_servers.sh`, the servers alternated in rounds)\n\n'
        # Its stdout is already markdown: two lines of legend, then tables.
        sed -n '/^rounds: /,$p' "$out/real_servers.txt"
    } >"$extra"
fi
report_args=(
    "$out/rounds"
    --note "date: $start_date to $(date -u '+%H:%M') UTC; git commit $commit"
    --note "machine: \`nproc\` = $(nproc), ${cpu_model:-unknown CPU}, $(uname -sr), $(rustc --version 2>/dev/null || echo rustc unknown)"
    --note "load average (1, 5, 15 min): $load_start at the start, $load_criterion after the criterion rounds, $load_end at the end (the scaling step's thousands of threads raise the last one)"
    --note "command: \`$command_line\` ($rounds round(s) of the criterion suites; criterion's HTML report with plots: \`target/criterion/report/index.html\`, not committed)"
    --append "$extra"
    --out "$out/report.md"
)
mkdir -p "$out/rounds"
if [ "$quick" = 1 ]; then
    target/release/examples/bench_report "${report_args[@]}"
    echo
    echo "quick mode: numbers are a smoke test; report in $out/report.md (docs/BENCHMARKS.md untouched)"
elif [ "$criterion_failed" = 1 ]; then
    target/release/examples/bench_report "${report_args[@]}"
    echo
    echo "a criterion suite failed: report in $out/report.md only, docs/BENCHMARKS.md untouched"
else
    target/release/examples/bench_report "${report_args[@]}" --splice docs/BENCHMARKS.md
    echo
    echo "report in $out/report.md and in docs/BENCHMARKS.md (\"Latest run-all results\")"
fi
echo "criterion's HTML report: target/criterion/report/index.html"

printf '\nall steps done in %ds; summary:\n' "$(($(date +%s) - start_all))"
cat "$out/summary.txt"
exit $failed
