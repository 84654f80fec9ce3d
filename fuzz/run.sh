#!/usr/bin/env bash
# Runs fuzz targets on their committed corpus, then minimises what they found back into
# fuzz/corpus/<target> (libFuzzer's merge: the smallest set of inputs with the same coverage).
# Prints each target's executions and findings; a crash reproducer lands in
# fuzz/artifacts/<target>/ (once fixed, copy it to fuzz/regressions/<target>/ so the replay test
# keeps it). Needs cargo-fuzz; runs on stable through RUSTC_BOOTSTRAP.
#   fuzz/run.sh TARGET[:SECONDS]...      (default 600 s; no target: all of them)
set -uo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
for spec in "${targets[@]}"; do
    target=${spec%%:*}
    seconds=600
    [ "$spec" != "$target" ] && seconds=${spec#*:}
    mkdir -p "corpus/$target" "work/$target" "artifacts/$target"
    before=$(find "artifacts/$target" -type f | wc -l)
    cargo fuzz run --sanitizer none "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 -print_final_stats=1 \
        >"logs/$target.log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$target.log" | grep -o '[0-9]*$')
    crashes=$(( $(find "artifacts/$target" -type f | wc -l) - before ))
    rm -rf "min/$target" && mkdir -p "min/$target"
    cargo fuzz run --sanitizer none "$target" "min/$target" "corpus/$target" "work/$target" -- \
        -merge=1 >>"logs/$target.log" 2>&1
    # Swap only a successful merge in; the old corpus goes last, so an interruption loses nothing.
    if [ -n "$(ls -A "min/$target")" ]; then
        rm -rf "old/$target" && mkdir -p old
        mv "corpus/$target" "old/$target" && mv "min/$target" "corpus/$target" &&
            rm -rf "old/$target" "work/$target"
    fi
    echo "$target: ${runs:-?} executions in ${seconds}s, exit $status, $crashes new crash artifacts, $(ls "corpus/$target" | wc -l) corpus files"
done
