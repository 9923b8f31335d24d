#!/usr/bin/env bash
# Kill training with SIGKILL at random moments and right after a checkpoint appears, then prove what
# a user relies on: every checkpoint folder left behind is complete and resumable, and running again
# into the same output folder finishes and leaves no temporary files.
#
#   Scripts/kill-test.sh [KILLS]      (default 24; half at random times, half right after a save)
#
# Uses the tiny training fixture, a checkpoint every step and the release build of peftkit; every
# third run is short, so some kills land while the final adapter is written.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS="${1:-24}"
BIN=.build/release/peftkit
[ -x "$BIN" ] || swift build -c release --product peftkit >/dev/null
MODEL=Tests/TrainingTests/Fixtures/tiny-chat-llama
DATA=Tests/TrainingTests/Fixtures/arithmetic.jsonl
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
FLAGS=(--model "$MODEL" --train "$DATA" --batch-size 4 --learning-rate 1e-2 --save-every 1 --save-total-limit 2 --quiet)

fail() { echo "kill-test: FAIL: $*" >&2; exit 1; }
checkpoints=0; resumed=0; timed=0; after_save=0

for i in $(seq 1 "$KILLS"); do
    out="$WORK/run-$i"
    steps=100000
    (( i % 3 == 0 )) && steps=$(( RANDOM % 40 + 10 ))  # short runs: some kills land in the final adapter's write
    "$BIN" train "${FLAGS[@]}" --output "$out" --max-steps "$steps" >/dev/null 2>&1 &
    pid=$!
    if (( i % 2 )); then
        sleep "0.$(( RANDOM % 9 + 1 ))$(( RANDOM % 10 ))"  # 0.10–0.99 s
        timed=$((timed + 1))
    else
        target=$(( RANDOM % 30 + 2 ))
        until [ -d "$out/checkpoint-$target" ] || ! kill -0 "$pid" 2>/dev/null; do :; done
        after_save=$((after_save + 1))
    fi
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true

    # Every checkpoint present resumes (a copy, so the run's own folder is untouched).
    newest=0
    for folder in "$out"/checkpoint-*; do
        [ -d "$folder" ] || continue
        step="${folder##*-}"
        [ -f "$folder/trainer_state.json" ] || fail "run $i: $folder has no trainer_state.json"
        copy="$WORK/copy-$i-$step"
        mkdir -p "$copy" && cp -r "$folder" "$copy/"
        "$BIN" train "${FLAGS[@]}" --output "$copy" --resume "$copy/checkpoint-$step" --max-steps $((step + 1)) >/dev/null 2>"$WORK/err" \
            || fail "run $i: checkpoint-$step does not resume: $(cat "$WORK/err")"
        rm -rf "$copy"
        checkpoints=$((checkpoints + 1))
        (( step > newest )) && newest=$step
    done

    # Running again into the same folder finishes and removes the killed run's leftovers.
    if (( newest > 0 )); then
        "$BIN" train "${FLAGS[@]}" --output "$out" --resume "$out" --max-steps $((newest + 2)) >/dev/null 2>"$WORK/err" \
            || fail "run $i: --resume $out failed: $(cat "$WORK/err")"
        resumed=$((resumed + 1))
    else
        "$BIN" train "${FLAGS[@]}" --output "$out" --max-steps 2 >/dev/null 2>"$WORK/err" \
            || fail "run $i: a rerun into a folder without checkpoints failed: $(cat "$WORK/err")"
    fi
    leftovers=$(find "$out" -maxdepth 2 -name '.*' | head -5)
    [ -z "$leftovers" ] || fail "run $i: leftovers after the rerun: $leftovers"
    [ -f "$out/adapter_model.safetensors" ] || fail "run $i: the rerun wrote no adapter"
done
echo "kill-test: $KILLS kills ($timed at random times, $after_save right after a save): $checkpoints checkpoints left behind, all complete and resumable; $resumed runs resumed from their folder; no leftovers after any rerun"
