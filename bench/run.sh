#!/usr/bin/env bash
# squall's benchmark harness.
#
#   bench/run.sh            every benchmark that exists so far
#   bench/run.sh loop       the loop micro-benchmarks only
#   bench/run.sh http       the HTTP server beside the anchors (~6 min)
#   bench/run.sh ws [args]  WebSocket echo, broadcast, idle and many connections
#                           beside the anchors (~9 min; args go to ws_bench.py, e.g. --quick)
#   bench/run.sh python     the Python package (RequestHandler, fast path, WebSockets)
#                           beside Tornado, uvicorn and socketify.py (~12 min)
#   bench/run.sh go         the Go package beside Go's net/http, socketify.py and Tornado (~8 min)
#   bench/run.sh metrics    the C demo with its metrics on and compiled out (~4 min)
#   bench/run.sh tls        the C demo over TLS beside nginx: keep-alive, handshakes, idle memory (~6 min)
#   bench/run.sh cluster    broadcast across 2 processes through Redis beside Socket.IO 4 (~4 min)
#   bench/run.sh deflate    WebSocket broadcast and echo with permessage-deflate beside
#                           socketify.py and Tornado, idle compressed sockets (~6 min)
#   bench/run.sh fetch [args]  the HTTP client (sqfetch) beside Tornado's and aiohttp's
#                           clients against a local nginx (2-7 min; args go to fetch_bench.py)
#
# Writes bench/results/<name>.md (tables + the exact commands) and raw output
# under bench/results/raw/ (not committed). Figures are medians of 3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
make -s build >/dev/null
mkdir -p build/bench bench/results/raw
# the load generator and the Python anchors' servers, on a fresh machine
command -v wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
python3 -c 'import socketify, uvicorn, httptools, uvloop' 2>/dev/null ||
    python3 -m pip install -q "socketify==0.0.31" uvicorn httptools uvloop </dev/null

if [[ "$what" == all || "$what" == loop ]]; then
    cc -O2 -g -Iinclude bench/loop_bench.c -o build/bench/loop_bench \
        target/release/libsquall.a -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
    python3 bench/loop_report.py build/bench/loop_bench 3 > bench/results/loop.md
    cat bench/results/loop.md
fi

if [[ "$what" == all || "$what" == python ]]; then
    # the Python package beside Tornado, uvicorn and socketify.py (~12 min)
    python3 bench/python_bench.py
fi

if [[ "$what" == all || "$what" == go ]]; then
    # the Go package beside net/http and the WebSocket anchors (~8 min)
    python3 bench/go_bench.py
fi

if [[ "$what" == all || "$what" == http ]]; then
    python3 bench/http_bench.py
fi

if [[ "$what" == all || "$what" == metrics ]]; then
    python3 bench/metrics_bench.py
fi

if [[ "$what" == all || "$what" == tls ]]; then
    python3 bench/tls_bench.py
fi

if [[ "$what" == all || "$what" == cluster ]]; then
    python3 bench/cluster_bench.py
fi

if [[ "$what" == all || "$what" == deflate ]]; then
    # socketify.py is the anchors' (their run.sh installs it); Node's client needs no package
    python3 -c 'import socketify' 2>/dev/null || python3 -m pip install -q "socketify==0.0.31"
    python3 bench/deflate_bench.py
fi

if [[ "$what" == all || "$what" == ws ]]; then
    # ws_bench.py stops itself at BUDGET_S (840 s); this is a backstop
    timeout --signal=TERM --kill-after=20 960 python3 bench/ws_bench.py "${@:2}" || echo "ws_bench.py exited $?"
    # Autobahn group 9 (limits and performance: large messages, many
    # fragments, many small messages) against the demo's /ws/echo, timed.
    t0=$(date +%s.%N)
    if python3 tests/autobahn/run.py --cmd build/examples/c/demo_server --groups 9 --case-timeout 150 \
            --timeout 1800 --no-compare --output build/bench/autobahn9.json > build/bench/autobahn9.log 2>&1; then
        ab="all cases acceptable"
    else
        ab="FAILED (see build/bench/autobahn9.log)"
    fi
    t1=$(date +%s.%N)
    {
        echo
        echo "## Autobahn group 9 (performance cases) against /ws/echo"
        echo
        echo "\`python3 tests/autobahn/run.py --cmd build/examples/c/demo_server --groups 9 --case-timeout 150 --timeout 1800 --no-compare\`: $ab; $(grep -E '^[0-9]+ cases in' build/bench/autobahn9.log | tail -1); wall $(python3 -c "print(f'{$t1 - $t0:.1f}')") s."
        echo
        echo "| case | verdict | ms |"
        echo "|---|---|---:|"
        python3 - <<'PY' || true
import json, os
p = "build/bench/autobahn9.details.json"
d = json.load(open(p)) if os.path.exists(p) else {}
for k in sorted(d, key=lambda c: [int(x) for x in c.split(".")]):
    v = d[k]
    print(f"| {k} | {v.get('behavior')} / close {v.get('behaviorClose')} | {v.get('durationMs')} |")
PY
    } >> bench/results/ws.md
fi

if [[ "$what" == all || "$what" == fetch ]]; then
    # Python clients (pinned; pip is quick when they are there already). pycurl
    # builds from source where no wheel fits: then it needs libcurl's headers.
    if ! python3 -m pip install -q --disable-pip-version-check -r bench/requirements-fetch.txt </dev/null \
            > build/bench/pip-fetch.log 2>&1; then
        echo "pip install failed (see build/bench/pip-fetch.log); installing libcurl4-openssl-dev and retrying"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcurl4-openssl-dev >> build/bench/pip-fetch.log 2>&1 || true
        python3 -m pip install -q --disable-pip-version-check -r bench/requirements-fetch.txt </dev/null \
            >> build/bench/pip-fetch.log 2>&1 || echo "pip install still failed: those clients will be failed rows"
    fi
    # nginx, as the anchors install it (nginx-light, else nginx; no init script may start it)
    if ! command -v nginx >/dev/null; then
        made_policy=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q > build/bench/apt-fetch.log 2>&1 || true
        apt-get install -y -q nginx-light >> build/bench/apt-fetch.log 2>&1 \
            || apt-get install -y -q nginx >> build/bench/apt-fetch.log 2>&1 || echo "nginx install failed"
        if [[ "$made_policy" == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    fi
    # sqfetch (examples/c/sqfetch.c) when it exists; a missing binary is a "not built" row
    make -s examples || echo "make examples failed: the squall rows may be missing"
    timeout --signal=TERM --kill-after=20 900 python3 bench/fetch_bench.py "${@:2}" || echo "fetch_bench.py exited $?"
fi

# One page with every section measured so far.
{
    echo "# squall benchmark results"
    echo
    echo "Commands: \`bench/run.sh loop\`, \`bench/run.sh http\`, \`bench/run.sh ws\`, \`bench/run.sh fetch\`, \`bench/run.sh python\` (see bench/README.md). Each section says when it ran."
    for f in bench/results/loop.md bench/results/http.md bench/results/ws.md bench/results/fetch.md bench/results/python.md bench/results/go.md; do
        # every heading one level down (the pages' headings are all at line starts, outside code blocks)
        [[ -f "$f" ]] && { echo; sed 's/^#/##/' "$f"; }
    done
} > bench/results/latest.md
