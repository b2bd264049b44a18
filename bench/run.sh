#!/usr/bin/env bash
# squall's benchmark harness.
#
#   bench/run.sh            every benchmark that exists so far
#   bench/run.sh loop       the loop micro-benchmarks only
#   bench/run.sh http       the HTTP server beside the anchors (~6 min)
#
# Writes bench/results/<name>.md (tables + the exact commands) and raw output
# under bench/results/raw/ (not committed). Figures are medians of 3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
make -s build >/dev/null
mkdir -p build/bench bench/results/raw

if [[ "$what" == all || "$what" == loop ]]; then
    cc -O2 -g -Iinclude bench/loop_bench.c -o build/bench/loop_bench \
        target/release/libsquall.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
    python3 bench/loop_report.py build/bench/loop_bench 3 > bench/results/loop.md
    cat bench/results/loop.md
fi

if [[ "$what" == all || "$what" == http ]]; then
    python3 bench/http_bench.py
fi

# One page with every section measured so far.
{
    echo "# squall benchmark results"
    echo
    echo "Commands: \`bench/run.sh loop\`, \`bench/run.sh http\` (see bench/README.md). Each section says when it ran."
    for f in bench/results/loop.md bench/results/http.md; do
        [[ -f "$f" ]] && { echo; sed 's/^# /## /; s/^## \(Idle\|10,000\|Ratios\)/### \1/' "$f"; }
    done
} > bench/results/latest.md
