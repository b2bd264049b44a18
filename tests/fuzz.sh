#!/bin/sh
# Fuzzing: installs what it needs, then runs the cargo-fuzz targets of fuzz/.
#
#   tests/fuzz.sh deps            the nightly toolchain (rustup) and cargo-fuzz, when missing
#   tests/fuzz.sh smoke [SECS]    builds every target, runs each SECS seconds (20) from its corpus
#   tests/fuzz.sh long HOURS [TARGET...]
#                                 runs each target (or those named) HOURS hours of
#                                 wall time at nice 19, one process at a time, and
#                                 appends the CPU time it used to fuzz/hours.tsv
#   tests/fuzz.sh hours           the CPU-hours and executions per target so far
#   tests/fuzz.sh cmin [TARGET]   folds build/fuzz/corpus/<target>/ into fuzz/corpus/<target>/,
#                                 minimised (cargo fuzz cmin, then fuzz/cover.py)
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
        ws|ws_message) echo fuzz/dict/ws.dict ;;
        resp) echo fuzz/dict/resp.dict ;;
        deflate_offer) echo fuzz/dict/deflate.dict ;;
        tls_config) echo fuzz/dict/pem.dict ;;
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

# children_cpu: CPU seconds (user + system) this shell's waited-for children
# used (cutime + cstime of /proc/$$/stat: $$ is this shell even inside $(...))
children_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.1f", ($14 + $15) / hz }' "/proc/$$/stat"
}

# run TARGET SECONDS: one target, its log in $OUT/TARGET.log; with LEDGER
# set, appends date, target, wall and CPU seconds and executions to it
run() {
    t=$1 secs=$2
    cpu0=$(children_cpu)
    mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
    log="$OUT/$t.log"
    if ! nice -n 19 $RUSTUP run "$NIGHTLY" $CARGO fuzz run -O -a "$t" "$OUT/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -dict="$(dict_for "$t")" -artifact_prefix="$OUT/artifacts/$t/" \
        -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz: $t FAILED (crash input in $OUT/artifacts/$t/, log $log)"
        return 1
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cpu=$(awk -v a="$cpu0" -v b="$(children_cpu)" 'BEGIN { printf "%.0f", b - a }')
    printf '%-14s %12s executions in %ss (%s CPU-seconds)\n' "$t" "$execs" "$secs" "$cpu" |
        tee -a "$OUT/summary"
    if [ -n "${LEDGER:-}" ]; then
        printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%d)" "$t" "$secs" "$cpu" "$execs" >>"$LEDGER"
    fi
}

# all SECONDS [TARGET...]: every target (or those named) in turn, then the
# executions of each
all() {
    secs=$1
    shift
    build
    mkdir -p "$OUT"
    : >"$OUT/summary"
    failed=0
    for t in ${*:-$(targets)}; do run "$t" "$secs" || failed=1; done
    echo "== executions per target"
    cat "$OUT/summary"
    return $failed
}

case ${1:-smoke} in
    deps) deps ;;
    smoke) all "${2:-20}" ;;
    long)
        hours=${2:?usage: tests/fuzz.sh long HOURS [TARGET...]}
        shift 2
        LEDGER=fuzz/hours.tsv all "$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')" "$@" ;;
    hours)
        # per target: CPU-hours and executions over every long run recorded
        awk -F '\t' '!/^#/ && NF == 5 { cpu[$2] += $4; ex[$2] += $5 }
            END { for (t in cpu) printf "%-14s %6.2f CPU-hours %14d executions\n", t, cpu[t] / 3600, ex[t] }' fuzz/hours.tsv | sort ;;
    cmin)
        build
        for t in ${2:-$(targets)}; do
            [ -d "$OUT/corpus/$t" ] && cp -n "$OUT/corpus/$t"/* "fuzz/corpus/$t"/ 2>/dev/null || true
            nice -n 19 $RUSTUP run "$NIGHTLY" $CARGO fuzz cmin -O -a "$t" "fuzz/corpus/$t" -- -set_cover_merge=1 -use_counters=0 -use_value_profile=0 \
                >"$OUT/$t.cmin.log" 2>&1 || { tail -n 20 "$OUT/$t.cmin.log"; exit 1; }
            # then only the files that reach an edge no smaller file reaches
            rm -rf "$OUT/cmin" && mkdir -p "$OUT/cmin"
            nice -n 19 "fuzz/target/x86_64-unknown-linux-gnu/release/$t" -merge=1 -use_counters=0 \
                -merge_control_file="$OUT/$t.merge" "$OUT/cmin" "fuzz/corpus/$t" >>"$OUT/$t.cmin.log" 2>&1
            python3 fuzz/cover.py "$OUT/$t.merge"
            printf '%-14s %4s files, %s\n' "$t" "$(ls "fuzz/corpus/$t" | wc -l)" "$(cat "fuzz/corpus/$t"/* | wc -c) bytes"
        done ;;
    *) echo "usage: $0 deps | smoke [SECS] | long HOURS [TARGET...] | hours | cmin [TARGET]" >&2; exit 2 ;;
esac
