#!/usr/bin/env bash
# Runs ToyTCP's cargo-fuzz targets (fuzz/fuzz_targets) for a fixed time each.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  run time per target (default 60), passed as -max_total_time
#   TARGET   segment_parse, connection, sim_scenario (default: all of them)
#
# Before fuzzing it runs the fuzz crate's own tests (`cargo test` in fuzz/:
# the oracles, and that the committed seed corpus in fuzz/corpus/<target>
# matches its generator). Each target starts from its committed corpus and
# writes what it discovers to fuzz/target/work/<target> (ignored by git), so
# the committed seeds stay small; a finding goes to fuzz/artifacts/<target>/.
#
# Prints `ok` or `FAIL` per target (with libFuzzer's run count and coverage),
# the artifact path of a finding and how to reproduce it, and a closing
# `N passed, N failed` line. Exits non-zero on any finding.
#
# Toolchain: cargo-fuzz needs nightly-only flags (-Zsanitizer=…). The
# nightly toolchain is used when installed (and installed with rustup when
# missing, if that works); otherwise the stable toolchain runs with
# RUSTC_BOOTSTRAP=1, which unlocks the same flags. FUZZ_TOOLCHAIN=stable or
# =nightly forces one. cargo-fuzz itself is installed when missing.
#
# Environment: FUZZ_TIMEOUT (seconds per input before libFuzzer calls it a
# hang; default 10, and 60 for sim_scenario, whose heavier scenarios move
# megabytes), FUZZ_SANITIZER (cargo fuzz --sanitizer: default `none`, as
# ToyTCP is safe Rust and AddressSanitizer would only cost speed; debug
# assertions and overflow checks stay on either way), FUZZ_RSS_MB (memory limit, default 2048), FUZZ_ARGS
# (extra libFuzzer arguments), FUZZ_KEEP_GOING=0 to stop at the first
# failing target.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

SECONDS_PER_TARGET=${1:-60}
if ! [[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || [ "$SECONDS_PER_TARGET" -eq 0 ]; then
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]  (SECONDS must be a positive integer, got '$SECONDS_PER_TARGET')" >&2
    exit 2
fi
shift $(($# > 0 ? 1 : 0))

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || { echo "FAIL: cannot install cargo-fuzz" >&2; exit 1; }
fi

# Choose the toolchain: nightly when present (or installable), else stable
# with RUSTC_BOOTSTRAP=1.
TOOLCHAIN=${FUZZ_TOOLCHAIN:-}
if [ -z "$TOOLCHAIN" ]; then
    if rustup run nightly rustc --version >/dev/null 2>&1; then
        TOOLCHAIN=nightly
    elif rustup toolchain install nightly --profile minimal >/dev/null 2>&1 \
        && rustup run nightly rustc --version >/dev/null 2>&1; then
        TOOLCHAIN=nightly
    else
        TOOLCHAIN=stable
    fi
fi
case $TOOLCHAIN in
    nightly) FUZZ=(cargo +nightly fuzz) ;;
    stable) FUZZ=(env RUSTC_BOOTSTRAP=1 cargo +stable fuzz) ;;
    *) echo "FUZZ_TOOLCHAIN must be nightly or stable, got '$TOOLCHAIN'" >&2; exit 2 ;;
esac
echo "== toolchain: $TOOLCHAIN ($(rustup run "$TOOLCHAIN" rustc --version 2>/dev/null)), $(cargo fuzz --version)"

mapfile -t ALL_TARGETS < <(cargo fuzz list 2>/dev/null)
if [ ${#ALL_TARGETS[@]} -eq 0 ]; then
    echo "FAIL: cargo fuzz list found no targets" >&2
    exit 1
fi
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    if ! printf '%s\n' "${ALL_TARGETS[@]}" | grep -qx -- "$t"; then
        echo "unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

echo "== fuzz crate tests (oracles, seed corpus up to date)"
if ! cargo test --quiet 2>&1 | tail -n 20; then
    echo "FAIL: the fuzz crate's tests fail; fix them before fuzzing" >&2
    exit 1
fi

mkdir -p target/logs
echo "== building ${TARGETS[*]}"
SANITIZER=(--sanitizer "${FUZZ_SANITIZER:-none}")
for t in "${TARGETS[@]}"; do
    if ! "${FUZZ[@]}" build "${SANITIZER[@]}" "$t" >target/logs/build.log 2>&1; then
        tail -n 40 target/logs/build.log
        echo "FAIL: cargo fuzz build $t" >&2
        exit 1
    fi
done

passed=0
failed=0
for t in "${TARGETS[@]}"; do
    work=target/work/$t
    log=target/logs/$t.log
    mkdir -p "$work" "corpus/$t"
    # libFuzzer saves any unit slower than -report_slow_units (10 s by
    # default) as a "slow-unit" artifact, which this script counts as a
    # finding; only units over the target's own timeout are findings here
    # (a whole simulated scenario under load may take over 10 s).
    case $t in
        sim_scenario) timeout=${FUZZ_TIMEOUT:-60} ;;
        *) timeout=${FUZZ_TIMEOUT:-10} ;;
    esac
    echo "== $t: ${SECONDS_PER_TARGET}s (log: fuzz/$log)"
    # shellcheck disable=SC2086 # FUZZ_ARGS is split on purpose
    "${FUZZ[@]}" run "${SANITIZER[@]}" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout="$timeout" \
        -report_slow_units="$timeout" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
        -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/\1 runs, /')
    artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | awk '{print $NF}')
    if [ $rc -eq 0 ] && [ -z "$artifact" ]; then
        echo "ok    $t  ${stats:-"(no final stats)"}"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL  $t  (exit $rc)"
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 5 | sed 's/^/      /'
        grep -A3 'panicked at' "$log" | sed -n '2,4p' | sed 's/^/      /'
        if [ -n "$artifact" ]; then
            case $artifact in /*) ;; *) artifact=$PWD/${artifact#./} ;; esac
            echo "      artifact: $artifact"
            echo "      reproduce: (cd fuzz && ${FUZZ[*]} run ${SANITIZER[*]} $t $artifact)"
            echo "      minimise:  (cd fuzz && ${FUZZ[*]} tmin ${SANITIZER[*]} $t $artifact)"
        else
            tail -n 15 "$log" | sed 's/^/      /'
        fi
        [ "${FUZZ_KEEP_GOING:-1}" = 0 ] && break
    fi
done

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
