#!/usr/bin/env bash
# Instructions per operation of the runtime benchmarks' bodies (the corio side
# of benches/runtime.rs: spawn, wake ping-pong, timers, yield), under
# callgrind, for each commit given. Instruction counts do not depend on the
# machine's load, so two commits compare fairly while other work runs.
#
#   benches/callgrind.sh a3d586a HEAD      # before and after a change
#   TRACED=1 benches/callgrind.sh HEAD     # the same bodies on a traced runtime
#
# Each commit's runtime is exported (git archive) to $CALLGRIND_DIR (default
# /tmp/corio-callgrind) and `benches/callgrind/bodies.rs` of the *current*
# tree is built against it in release mode (`--offline`: the lock file's crates
# must be in cargo's cache). The count covers only the `measured_*` functions.
# With TRACED=1 the harness is built with its `traced` feature: the bodies
# run on a runtime that records a trace (`Builder::trace_capacity`), so only
# commits that have tracing build.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=${CALLGRIND_DIR:-/tmp/corio-callgrind}
reps=3
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: $0 COMMIT..." >&2; exit 1; }

features=()
suffix=""
if [ -n "${TRACED:-}" ]; then
    features=(--features traced)
    suffix=".traced"
fi

printf '%-12s %10s %10s %10s %10s\n' commit spawn pingpong timers yield
for rev in "$@"; do
    sha=$(git rev-parse --short "$rev")
    # The exported tree and the harness side by side: a harness above the
    # tree would make the runtime a member of the harness's workspace.
    src=$work/$sha-src
    dir=$work/$sha-harness
    if [ ! -d "$src" ]; then
        mkdir -p "$src"
        git archive "$sha" | tar -x -C "$src"
    fi
    mkdir -p "$dir"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "corio-callgrind"
version = "0.0.0"
edition = "2021"
publish = false
[[bin]]
name = "bodies"
path = "$repo/benches/callgrind/bodies.rs"
[dependencies]
corio-runtime = { path = "$src/runtime" }
[features]
traced = []
[profile.release]
debug = 1
[workspace]
TOML
    cp "$repo/Cargo.lock" "$dir/Cargo.lock"
    (cd "$dir" && cargo build --release --offline --quiet "${features[@]}")
    row=$sha
    for body in spawn pingpong timers yield; do
        case $body in spawn) ops=10000 ;; *) ops=100000 ;; esac
        ir=$(valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.$body$suffix.out" \
            --toggle-collect='*measured_*' "$dir/target/release/bodies" "$body" "$reps" 2>&1 \
            | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        row+=$(printf ' %10s' "$(awk -v ir="$ir" -v n=$((ops * reps)) 'BEGIN { printf "%.1f", ir / n }')")
    done
    echo "$row$suffix"
done
echo "(instructions per operation: per spawned and joined task, per hop, per timer armed and cancelled, per yield)"
