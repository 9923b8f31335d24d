#!/usr/bin/env bash
# Data parallelism measured on this machine and modelled beyond it.
#
# The same run — SmolLM2-135M-Instruct (Q4_1 blocks kept packed), the date task of
# Examples/InstructionTuning, LoRA r=8 α=32 on q,v, a global batch of 8, 12 steps — as 1 process ×
# N threads and as N processes × 1 thread (mpirun, each bound to a core), then
# scaling_model.py with the measured compute per example. Prints a Markdown report; results of a
# run: Benchmarks/results/data_parallel.md.
#
#   Benchmarks/DataParallel/run.sh [--steps 12]      (needs libopenmpi-dev and openmpi-bin)
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=12
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
cores=$(nproc)
model="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
SCRATCH=.build-mpi
swift build -c release --traits MPI --scratch-path "$SCRATCH" --product peftkit >&2
BIN="$SCRATCH/release/peftkit"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
LAUNCH=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && LAUNCH=(mpirun --allow-run-as-root --oversubscribe)
FLAGS=(--model "$model" --quantization gguf --train Examples/InstructionTuning/data/train.jsonl --rank 8 --alpha 32
       --targets q_proj,v_proj --learning-rate 1e-3 --max-steps "$steps" --logging-steps 1 --quiet)

PEFTKIT_NUM_THREADS=$cores "$BIN" train "${FLAGS[@]}" --batch-size 8 --output "$work/threads" > "$work/threads.json"
"${LAUNCH[@]}" -n "$cores" --bind-to core -x PEFTKIT_NUM_THREADS=1 "$BIN" train "${FLAGS[@]}" --batch-size $((8 / cores)) \
    --output "$work/processes" > "$work/processes.json"

python3 - "$work" "$cores" "$steps" <<'PY'
import json, os, sys
work, cores, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
threads = json.load(open(os.path.join(work, "threads.json")))
processes = json.load(open(os.path.join(work, "processes.json")))
def losses(folder):
    return [json.loads(l)["loss"] for l in open(os.path.join(work, folder, "metrics.jsonl")) if '"loss"' in l]
worst = max(abs(a - b) for a, b in zip(losses("threads"), losses("processes")))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"SmolLM2-135M-Instruct Q4_1 (packed), LoRA r=8 on q,v, global batch 8, {steps} steps, on {cpu} ({cores} cores).\n")
print("| layout | s/step | examples/s | all-reduce s/step (incl. waiting) |")
print("|---|---|---|---|")
for name, run in ((f"1 process × {cores} threads", threads), (f"{cores} processes × 1 thread", processes)):
    per_step = run["step_runtime"] / run["global_step"]
    comm = run.get("communication_runtime", 0) / run["global_step"]
    print(f"| {name} | {per_step:.3f} | {run['step_samples_per_second']:.2f} | {comm:.4f} |")
print(f"\nLargest difference between the two layouts' step losses: {worst:.1e}.")
open(os.path.join(work, "per_example"), "w").write(str(threads["step_runtime"] / threads["global_step"] / 8))
PY
echo
echo "## Modelled beyond this machine"
python3 Benchmarks/DataParallel/scaling_model.py --seconds-per-example "$(cat "$work/per_example")"
