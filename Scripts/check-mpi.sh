#!/usr/bin/env bash
# Data-parallel training over Open MPI, checked against one process: `mpirun -n 2 peftkit train`
# with batch b per process (and gradient accumulation, clipping, AdamW, a cosine schedule) must log
# the same loss at every step as one process with batch 2b, within summation-order rounding, and
# leave the same files; a run resumed in the middle continues the same way; and a process that
# fails ends the whole job, naming its rank, instead of leaving the other waiting.
#
#   Scripts/check-mpi.sh        (needs libopenmpi-dev and openmpi-bin; builds peftkit with the MPI trait)
#
# Uses the tiny training fixture and one thread per process.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH=.build-mpi
swift build -c release --traits MPI --scratch-path "$SCRATCH" --product peftkit >/dev/null
BIN="$SCRATCH/release/peftkit"
MODEL=Tests/TrainingTests/Fixtures/tiny-chat-llama
DATA=Tests/TrainingTests/Fixtures/arithmetic.jsonl
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PEFTKIT_NUM_THREADS=1
LAUNCH=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && LAUNCH=(mpirun --allow-run-as-root --oversubscribe)
MPIRUN=("${LAUNCH[@]}" -n 2)
COMMON=(--model "$MODEL" --train "$DATA" --rank 4 --gradient-accumulation 2 --learning-rate 5e-3 --max-grad-norm 0.5
        --schedule cosine --warmup-steps 1 --logging-steps 1 --quiet)
FLAGS=("${COMMON[@]}" --max-steps 8 --save-every 4)

losses() { grep -o '"loss": [0-9.e+-]*' "$1/metrics.jsonl" | cut -d' ' -f2; }
compare() {  # two loss lists: the largest difference, failing above 1e-5
    paste <(losses "$1") <(losses "$2") | awk -v what="$3" '
        { d = $1 - $2; if (d < 0) d = -d; if (d > worst) worst = d; n++ }
        END { printf "%s: %d steps, largest loss difference %.2e\n", what, n, worst; if (n == 0 || worst > 1e-5) exit 1 }'
}

"$BIN" train "${FLAGS[@]}" --batch-size 4 --output "$WORK/single" >/dev/null
"${MPIRUN[@]}" "$BIN" train "${FLAGS[@]}" --batch-size 2 --output "$WORK/parallel" > "$WORK/parallel.out"
compare "$WORK/single" "$WORK/parallel" "2 processes x batch 2 against 1 x batch 4"
[ "$(wc -l < "$WORK/parallel.out")" = 1 ] || { echo "expected one summary line (rank 0's)"; exit 1; }
for file in adapter_config.json adapter_model.safetensors checkpoint-4 summary.json; do
    [ -e "$WORK/parallel/$file" ] || { echo "rank 0 did not write $file"; exit 1; }
done

# Resumed from the middle (checkpoint-4), the job continues as the uninterrupted one did.
cp -r "$WORK/parallel/checkpoint-4" "$WORK/checkpoint-4"
mkdir -p "$WORK/resumed" && cp -r "$WORK/checkpoint-4" "$WORK/resumed/"
"${MPIRUN[@]}" "$BIN" train "${FLAGS[@]}" --batch-size 2 --output "$WORK/resumed" --resume "$WORK/resumed/checkpoint-4" >/dev/null
tail -4 "$WORK/parallel/metrics.jsonl" > "$WORK/tail.jsonl"
paste <(grep -o '"loss": [0-9.e+-]*' "$WORK/tail.jsonl" | cut -d' ' -f2) <(losses "$WORK/resumed" | tail -4) | awk '
    { d = $1 - $2; if (d < 0) d = -d; if (d > worst) worst = d; n++ }
    END { printf "resumed at step 4: %d steps, largest loss difference %.2e\n", n, worst; if (n != 4 || worst > 1e-6) exit 1 }'

# SIGUSR1 to mpirun (which forwards it to every process) stops the job gracefully: every process
# stops after the same step, rank 0 leaves a checkpoint there, and the run resumes from it.
"${MPIRUN[@]}" "$BIN" train "${COMMON[@]}" --max-steps 1000000 --batch-size 2 --output "$WORK/stopped" \
    > "$WORK/stopped.out" 2> "$WORK/stopped.err" &
job=$!
for _ in $(seq 300); do
    [ -s "$WORK/stopped/metrics.jsonl" ] && [ "$(wc -l < "$WORK/stopped/metrics.jsonl")" -ge 3 ] && break
    sleep 0.1
done
kill -USR1 "$job"
wait "$job" || { echo "the job stopped by SIGUSR1 failed:"; cat "$WORK/stopped.err"; exit 1; }
stopped=$(ls -d "$WORK"/stopped/checkpoint-* 2>/dev/null | head -1)
[ -n "$stopped" ] || { echo "no checkpoint after SIGUSR1"; exit 1; }
step=${stopped##*-}
"${MPIRUN[@]}" "$BIN" train "${COMMON[@]}" --max-steps $((step + 2)) --batch-size 2 \
    --output "$WORK/stopped" --resume "$stopped" > /dev/null
echo "SIGUSR1 stopped both processes after step $step with a checkpoint; resumed to step $(grep -o '"global_step": [0-9]*' "$WORK/stopped/summary.json" | cut -d' ' -f2)"

# One process fails (its training file is missing): the job ends, naming the rank.
if timeout 120 "${LAUNCH[@]}" -n 1 "$BIN" train "${FLAGS[@]}" --batch-size 2 --output "$WORK/failed" \
        : -n 1 "$BIN" train "${FLAGS[@]/$DATA//nonexistent/train.jsonl}" --batch-size 2 --output "$WORK/failed" > "$WORK/failed.out" 2>&1; then
    echo "a job with a failing process succeeded"; exit 1
fi
grep -q "rank 1: train failed" "$WORK/failed.out" || { echo "the failure did not name rank 1:"; cat "$WORK/failed.out"; exit 1; }
echo "a failing process ended the job: $(grep -m1 'rank 1: train failed' "$WORK/failed.out")"
