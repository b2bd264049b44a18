#!/usr/bin/env bash
# Where the time goes in squall's Python HTTP servers: the RequestHandler path
# (hello_handler.py) and the fast path (hello_fast.py), each under 5 s of
# `wrk -t1 -c64` load (after a 1 s warm-up), pinned like the benchmark (server
# on CPU 1, wrk on CPU 0):
#   1. perf record -g on the running server (linux-perf is installed with
#      apt-get when perf is missing); where perf cannot run, py-spy (pip)
#      samples instead;
#   2. then a fresh server under cProfile (bench/python/cprofile_run.py) for
#      the Python-level view.
#
#   bench/python/profile.sh [handler] [fast]        (~40 s)
#
# Writes bench/results/raw/profile.<which>.*: perf.data, perf.dso.txt (self
# time by shared object), perf.sym.txt (top symbols), wrk.txt (the load under
# perf), window.txt (server and machine CPU use meanwhile), cprofile.txt,
# cprofile.wrk.txt (or pyspy.txt); bench/results/python.md quotes them.
# Environment: PROFILE_SECONDS (5), SQUALL_LIBRARY, SQUALL_IO_THREADS (1).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
raw=$root/bench/results/raw
mkdir -p "$raw"
secs=${PROFILE_SECONDS:-5}
py=$(command -v python3)
export PYTHONPATH=$root/bindings/python${PYTHONPATH:+:$PYTHONPATH}
export SQUALL_LIBRARY=${SQUALL_LIBRARY:-$root/target/release/libsquall.so}
export SQUALL_IO_THREADS=${SQUALL_IO_THREADS:-1}
[[ -f $SQUALL_LIBRARY ]] || cargo build --release --lib
which_list=("$@")
[[ ${#which_list[@]} -gt 0 ]] || which_list=(handler fast)

log() { echo "[$(date +%H:%M:%S)] $*"; }

# only the processes this script started, by PID
started=()
cleanup() { for p in "${started[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
trap cleanup EXIT

perf_works() {
    local probe="$raw/.perf-probe.data"
    perf record -q -o "$probe" -- true >/dev/null 2>&1
    local rc=$?
    rm -f "$probe"
    return $rc
}

tool=cprofile-only
if ! command -v perf >/dev/null; then
    log "perf missing: apt-get install linux-perf"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf \
        || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf; }; } \
        > "$raw/profile.apt.log" 2>&1 || log "linux-perf install failed (see $raw/profile.apt.log)"
fi
if command -v perf >/dev/null && perf_works; then
    tool=perf
else
    log "perf cannot record here; trying py-spy"
    command -v py-spy >/dev/null || "$py" -m pip install -q --disable-pip-version-check py-spy </dev/null \
        > "$raw/profile.pip.log" 2>&1 || true
    command -v py-spy >/dev/null && tool=py-spy
fi
log "sampler: $tool"

# start_server PORT CMD... : pinned to CPU 1, waits until GET / answers; sets $pid
start_server() {
    local port=$1
    shift
    taskset -c 1 "$@" > "$raw/profile.server.log" 2>&1 &
    pid=$!
    started+=("$pid")
    for _ in $(seq 200); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        kill -0 "$pid" 2>/dev/null || { log "server exited: $(tail -5 "$raw/profile.server.log")"; return 1; }
        sleep 0.1
    done
    log "server not answering on $port"
    return 1
}

stop_server() {
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

cpu_ticks() {  # utime + stime of a process, all its threads
    awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}

busy_ticks() {  # all CPUs, anything but idle and iowait
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat
}

load() {  # load PORT SECONDS OUT
    taskset -c 0 wrk -t1 -c64 "-d$2s" --latency "http://127.0.0.1:$1/" > "$3" 2>&1
}

port=18440
for which in "${which_list[@]}"; do
    script=bench/python/hello_$which.py
    [[ -f $script ]] || { log "no $script"; continue; }
    out=$raw/profile.$which
    port=$((port + 1))
    if [[ $tool != cprofile-only ]]; then
        log "$which: $tool for ${secs} s of wrk load"
        start_server "$port" "$py" "$script" "$port" || continue
        load "$port" 1 /dev/null
        if [[ $tool == perf ]]; then
            taskset -c 0 perf record -q -F 999 -g -p "$pid" -o "$out.perf.data" -- sleep "$secs" \
                > "$out.perf.log" 2>&1 &
        else
            taskset -c 0 py-spy record --native --nonblocking -r 250 -d "$secs" -f raw -o "$out.pyspy.raw" \
                -p "$pid" > "$out.pyspy.log" 2>&1 &
        fi
        sampler=$!
        t0=$(date +%s.%N) s0=$(cpu_ticks "$pid") b0=$(busy_ticks)
        load "$port" "$secs" "$out.wrk.txt"
        t1=$(date +%s.%N) s1=$(cpu_ticks "$pid") b1=$(busy_ticks)
        wait "$sampler"
        # how busy the server and the whole machine (both CPUs, this load included) were meanwhile
        awk -v s="$((s1 - s0))" -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
            'BEGIN {printf "server CPU %.0f %%, all CPUs busy %.0f %% (of %d %%)\n", 100*s/hz/(t1-t0), 100*b/hz/(t1-t0), 100*'"$(nproc)"'}' \
            > "$out.window.txt"
        stop_server
        if [[ $tool == perf ]]; then
            perf report -i "$out.perf.data" --stdio --no-children -g none --sort dso 2>/dev/null \
                | sed '/^$/d' | head -40 > "$out.perf.dso.txt"
            perf report -i "$out.perf.data" --stdio --no-children -g none --sort dso,sym 2>/dev/null \
                | sed '/^$/d' | head -80 > "$out.perf.sym.txt"
        else
            # self samples by leaf frame (raw format: "frame;frame;...;leaf COUNT")
            awk '{n=$NF; $NF=""; k=split($0, f, ";"); leaf=f[k]; s[leaf]+=n; t+=n}
                 END {for (l in s) printf "%6.2f%%  %s\n", 100*s[l]/t, l}' "$out.pyspy.raw" \
                | sort -rn | head -40 > "$out.pyspy.txt"
        fi
        log "$which: $(grep -h 'Requests/sec' "$out.wrk.txt") under $tool; $(cat "$out.window.txt")"
    fi
    log "$which: cProfile for ${secs} s of wrk load"
    start_server "$port" "$py" bench/python/cprofile_run.py "$out.cprofile.txt" "$script" "$port" || continue
    load "$port" 1 /dev/null
    load "$port" "$secs" "$out.cprofile.wrk.txt"
    stop_server
    log "$which: $(grep -h 'Requests/sec' "$out.cprofile.wrk.txt") under cProfile"
done

for which in "${which_list[@]}"; do
    for f in "$raw/profile.$which.perf.dso.txt" "$raw/profile.$which.perf.sym.txt" "$raw/profile.$which.pyspy.txt"; do
        [[ -s $f ]] && { echo "== ${f#$root/}"; grep -v '^#' "$f" | head -15; }
    done
    f=$raw/profile.$which.cprofile.txt
    [[ -s $f ]] && { echo "== ${f#$root/}"; head -2 "$f"; grep -A 22 'Ordered by: internal time' "$f" | tail -n +4; }
done
exit 0
