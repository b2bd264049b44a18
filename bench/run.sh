#!/usr/bin/env bash
# squall's benchmark harness.
#
#   bench/run.sh            every benchmark that exists so far
#   bench/run.sh loop       the loop micro-benchmarks only
#   bench/run.sh http       the HTTP server beside the anchors (~6 min)
#   bench/run.sh ws [args]  WebSocket echo, broadcast, idle and many connections
#                           beside the anchors (~9 min; args go to ws_bench.py, e.g. --quick)
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

if [[ "$what" == all || "$what" == ws ]]; then
    # ws_bench.py stops itself at BUDGET_S (840 s); this is a backstop
    timeout --signal=TERM --kill-after=20 960 python3 bench/ws_bench.py "${@:2}" || echo "ws_bench.py exited $?"
fi

# One page with every section measured so far.
{
    echo "# squall benchmark results"
    echo
    echo "Commands: \`bench/run.sh loop\`, \`bench/run.sh http\`, \`bench/run.sh ws\` (see bench/README.md). Each section says when it ran."
    for f in bench/results/loop.md bench/results/http.md bench/results/ws.md; do
        # every heading one level down (the pages' headings are all at line starts, outside code blocks)
        [[ -f "$f" ]] && { echo; sed 's/^#/##/' "$f"; }
    done
} > bench/results/latest.md
