#!/usr/bin/env bash
# Runs the make targets named on the command line one after the other, each
# with its wall time, and goes on past a failing one so a single run shows
# every failure; prints the table of times at the end and fails when any
# target failed. `make test` runs its suites through this.
#
#   tests/suites.sh TARGET...      (MAKE names the make program, default make)
set -u
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
declare -a rows=()
failed=()
total0=$(date +%s)
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
echo "==== time per suite"
printf '%s\n' "${rows[@]}"
printf '%-24s %5ds\n' total $(( $(date +%s) - total0 ))
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
