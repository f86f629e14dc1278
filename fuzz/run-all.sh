#!/usr/bin/env bash
# Builds every fuzz target once, then runs each for SECONDS (default 20), one
# at a time, from a scratch corpus seeded with fuzz/seeds/<target>.
#
#   fuzz/run-all.sh [SECONDS]
#
# Exits non-zero if any target crashed (panic, failed oracle, timeout or OOM);
# the crashing input is in fuzz/artifacts/<target>/ and the tail of the log is
# printed. Prints one summary line per target: executions, coverage (cov) and
# features (ft) from libFuzzer's final `#N DONE cov: X ft: Y` line.
#
# Environment:
#   FUZZ_CORPUS_DIR  where the working corpora live (default fuzz/corpus, which
#                    is gitignored); seeds are copied in under content-hash
#                    names, and what libFuzzer finds accumulates there.
#   FUZZ_SANITIZER   cargo-fuzz sanitizer (default: cargo-fuzz's own, address,
#                    on nightly; none on stable). The crate forbids unsafe
#                    code, so `none` is a reasonable choice for speed.
#   FUZZ_TARGETS     space-separated subset of targets to run.
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang
#                    (default 25).
set -euo pipefail

secs="${1:-20}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [SECONDS]" >&2
    exit 2
fi

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$fuzz_dir"

# cargo-fuzz itself.
if ! cargo fuzz --help >/dev/null 2>&1; then
    echo "installing cargo-fuzz..."
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz
fi

# Nightly if there is one; else stable with RUSTC_BOOTSTRAP and no sanitizer
# (the sanitizers need nightly-only flags).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
    sanitizer="${FUZZ_SANITIZER:-}"
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
    sanitizer="${FUZZ_SANITIZER:-none}"
fi
# Release with debug assertions (and so overflow checks) on.
flags=(-O -a)
if [ -n "$sanitizer" ]; then
    flags+=(-s "$sanitizer")
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <("${fuzz[@]}" list)
fi

start=$(date +%s)
echo "building ${#targets[@]} targets: ${fuzz[*]} build ${flags[*]}"
"${fuzz[@]}" build "${flags[@]}"
built=$(date +%s)
echo "build took $((built - start)) s"

corpus_root="${FUZZ_CORPUS_DIR:-$fuzz_dir/corpus}"
log_dir="$fuzz_dir/target/run-all-logs"
mkdir -p "$log_dir"

failed=0
summary=()
for target in "${targets[@]}"; do
    corpus="$corpus_root/$target"
    mkdir -p "$corpus"
    if [ -d "seeds/$target" ]; then
        for seed in "seeds/$target"/*; do
            [ -f "$seed" ] || continue
            hash=$(sha1sum "$seed" | cut -c1-40)
            [ -e "$corpus/$hash" ] || cp "$seed" "$corpus/$hash"
        done
    fi
    # A libFuzzer dictionary, if there is one: dicts/<target>.dict, else
    # dicts/<prefix>.dict (handshake_request -> handshake.dict).
    dict=()
    for d in "dicts/$target.dict" "dicts/${target%%_*}.dict"; do
        if [ -f "$d" ]; then
            dict=(-dict="$fuzz_dir/$d")
            break
        fi
    done
    log="$log_dir/$target.log"
    echo "running $target for $secs s (corpus $corpus, log $log)"
    t0=$(date +%s)
    status=ok
    if ! "${fuzz[@]}" run "${flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-25}" \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        status=CRASH
        failed=1
        echo "---- $target failed; end of $log:"
        grep -E -A3 "panicked at" "$log" | cut -c1-400 | head -12 || true
        grep -E "^(SUMMARY|==[0-9]+==ERROR)|timeout after|out-of-memory|Test unit written to" "$log" | head -5 || true
        tail -n 25 "$log"
        echo "----"
    fi
    took=$(( $(date +%s) - t0 ))
    # The final status line: `#N  DONE   cov: X ft: Y corp: C/S ...`; after a
    # crash there is none, so take the last status line instead.
    line=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        line=$(grep -aE '^#[0-9]+[[:space:]]+[A-Z]+[[:space:]].*cov: ' "$log" | tail -n 1 || true)
    fi
    execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$line")
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$line")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$line")
    corp=$(sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$line")
    summary+=("$(printf '%-20s %-5s execs=%-9s cov=%-6s ft=%-6s corpus=%-6s %3d s' \
        "$target" "$status" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$took")")
done

echo
echo "summary (${secs} s per target; build $((built - start)) s, total $(( $(date +%s) - start )) s):"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "FAILED: at least one target crashed; see fuzz/artifacts/" >&2
    exit 1
fi
