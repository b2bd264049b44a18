#!/usr/bin/env bash
# The README's set-up as a new user meets it: a fresh clone of this
# checkout's HEAD in a scratch directory, its `tests/setup.sh` (what
# `make test` runs first: idempotent, so on a set-up machine it only checks),
# then `make demo` — which must build the library by itself and serve the
# chat room: the page answers and two WebSocket clients (Python websockets)
# hear each other. The demo is stopped by the PID of the process group this
# script started. The whole suite is not run again inside the clone.
#
# Only the committed state is cloned. The clone's target/release is seeded
# with a copy of this checkout's (dependencies are not built again; the
# crate itself is, its sources being new files).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/build/fresh
rm -rf "$DIR"
mkdir -p "$DIR"
git clone -q "$ROOT" "$DIR/squall"
if [[ -d target/release ]]; then
    mkdir -p "$DIR/squall/target"
    cp -a target/release "$DIR/squall/target/release"
fi
cd "$DIR/squall"
bash tests/setup.sh </dev/null >"$DIR/setup.log" 2>&1 || { tail -40 "$DIR/setup.log"; echo "fresh clone: tests/setup.sh failed"; exit 1; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid env PORT="$PORT" make demo </dev/null >"$DIR/demo.log" 2>&1 &
DEMO=$!
stop() {
    kill -TERM -- "-$DEMO" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DEMO" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$DEMO" 2>/dev/null || true
}
trap stop EXIT

python3 - "$PORT" "$DEMO" "$DIR/demo.log" <<'PY'
import asyncio, http.client, json, os, sys, time
import websockets

port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def alive():
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

deadline = time.monotonic() + 900  # the library's build included
while True:
    if not alive():
        sys.exit(f"make demo exited before answering:\n{open(log).read()[-3000:]}")
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        r = c.getresponse()
        page = r.read().decode()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"make demo did not answer in 900 s:\n{open(log).read()[-3000:]}")
        time.sleep(0.5)
assert r.status == 200 and "<html" in page.lower(), (r.status, page[:300])

async def talk():
    url = f"ws://127.0.0.1:{port}/message"
    async with websockets.connect(url + "?name=ann") as a, websockets.connect(url + "?name=bob") as b:
        for ws in (a, b):
            while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "welcome":
                pass
        await a.send(json.dumps({"body": "hello from a fresh clone"}))
        while True:
            m = json.loads(await asyncio.wait_for(b.recv(), 10))
            if m["type"] == "message":
                assert m["from"] == "ann" and m["body"] == "hello from a fresh clone", m
                return

asyncio.run(talk())
print(f"fresh clone: setup ok, make demo served the page and the chat on port {port}")
PY
