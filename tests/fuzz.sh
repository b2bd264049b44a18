#!/bin/sh
# Fuzzing: installs what it needs, then runs the cargo-fuzz targets of fuzz/.
#
#   tests/fuzz.sh deps            the nightly toolchain (rustup) and cargo-fuzz, when missing
#   tests/fuzz.sh smoke [SECS]    builds every target, runs each SECS seconds (20) from its corpus
#   tests/fuzz.sh long HOURS      runs each target HOURS CPU-hours (one process at a time)
#
# Runs write to build/fuzz/: new inputs in build/fuzz/corpus/<target>/ (the
# committed corpus in fuzz/corpus/<target>/ is read, never written), crashes
# in build/fuzz/artifacts/<target>/, one log per target. Any crash fails the
# run. At the end each target's executions are printed.
set -eu

cd "$(dirname "$0")/.."
NIGHTLY=${NIGHTLY:-nightly}
RUSTUP=${RUSTUP:-rustup}
CARGO=${CARGO:-cargo}
# cargo-fuzz pinned to a release that builds with --locked
CARGO_FUZZ_VERSION=${CARGO_FUZZ_VERSION:-0.13.2}
OUT=build/fuzz

targets() {
    sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^squall-fuzz$'
}

dict_for() {
    case $1 in
        ws) echo fuzz/dict/ws.dict ;;
        *) echo fuzz/dict/http.dict ;;
    esac
}

deps() {
    $RUSTUP toolchain list | grep -q "^$NIGHTLY" || $RUSTUP toolchain install "$NIGHTLY" --profile minimal </dev/null
    if ! $CARGO fuzz --version >/dev/null 2>&1; then
        $CARGO install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked </dev/null
    fi
}

build() {
    # release with debug assertions (overflow checks), AddressSanitizer
    $RUSTUP run "$NIGHTLY" $CARGO fuzz build -O -a
}

# run TARGET SECONDS [JOBS]: one target, its log in $OUT/TARGET.log
run() {
    t=$1 secs=$2
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
    log="$OUT/$t.log"
    if ! nice -n 19 $RUSTUP run "$NIGHTLY" $CARGO fuzz run -O -a "$t" "$OUT/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -dict="$(dict_for "$t")" -artifact_prefix="$OUT/artifacts/$t/" \
        -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $t FAILED (crash input in $OUT/artifacts/$t/, log $log)"
        return 1
    fi
    printf '%-14s %12s executions in %ss\n' "$t" "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)" "$secs"
}

case ${1:-smoke} in
    deps) deps ;;
    smoke)
        build
        failed=0
        for t in $(targets); do run "$t" "${2:-20}" || failed=1; done
        exit $failed ;;
    long)
        hours=${2:?usage: tests/fuzz.sh long HOURS}
        secs=$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')
        build
        failed=0
        for t in $(targets); do run "$t" "$secs" || failed=1; done
        exit $failed ;;
    *) echo "usage: $0 deps | smoke [SECS] | long HOURS" >&2; exit 2 ;;
esac
