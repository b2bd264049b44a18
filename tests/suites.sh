#!/usr/bin/env bash
# Runs the make targets named on the command line one after the other, each
# with its wall time, and goes on past a failing one so a single run shows
# every failure; prints the table of times at the end and fails when any
# target failed. `make test` runs its suites through this.
#
#   tests/suites.sh [--background T1,T2,...] TARGET...
#
# --background: targets run at nice 19, one after the other, beside the
# others from the start (their output in build/suites/<target>.log, shown
# at the end when they fail). For CPU-bound work that needs nothing from
# the others (the fuzz smoke run): at nice 19 it takes the CPU the
# foreground suites leave idle while they wait on sockets and timers, and
# barely slows them.
# MAKE names the make program (default make).
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
background=""
if [[ ${1:-} == --background ]]; then
    background=${2//,/ }
    shift 2
fi
declare -a rows=()
failed=()
total0=$(date +%s)
mkdir -p build/suites

bg_pid=""
if [[ -n $background ]]; then
    # each line of build/suites/background: target seconds status
    rm -f build/suites/background
    (
        for t in $background; do
            t0=$(date +%s)
            if nice -n 19 "$MAKE" --no-print-directory "$t" </dev/null >"build/suites/$t.log" 2>&1; then s=ok; else s=FAILED; fi
            echo "$t $(( $(date +%s) - t0 )) $s" >>build/suites/background
        done
    ) &
    bg_pid=$!
    echo "==== in the background at nice 19: $background (logs in build/suites/)"
fi

for t in "$@"; do
    echo "==== $t"
    t0=$(date +%s)
    if "$MAKE" --no-print-directory "$t" </dev/null; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
    fi
    rows+=("$(printf '%-24s %5ds  %s' "$t" $(( $(date +%s) - t0 )) "$status")")
    echo "==== ${rows[-1]}"
done

if [[ -n $bg_pid ]]; then
    w0=$(date +%s)
    wait "$bg_pid"
    echo "==== waited $(( $(date +%s) - w0 ))s for the background suites"
    for t in $background; do
        line=$(grep "^$t " build/suites/background 2>/dev/null || echo "$t 0 FAILED")
        read -r _ secs s <<<"$line"
        echo "==== background $t (build/suites/$t.log):"
        if [[ $s == ok ]]; then tail -n 15 "build/suites/$t.log"; else tail -n 80 "build/suites/$t.log"; failed+=("$t"); fi
        rows+=("$(printf '%-24s %5ds  %s (background, nice 19)' "$t" "$secs" "$s")")
    done
fi

echo "==== time per suite"
printf '%s\n' "${rows[@]}"
printf '%-24s %5ds\n' total $(( $(date +%s) - total0 ))
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
