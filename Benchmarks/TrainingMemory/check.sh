#!/usr/bin/env bash
# TrainingMemory's prediction against the measured peak of real `peftkit train` runs, across model
# sizes: SmolLM2-135M (Q4_1 GGUF), Gemma 3 270M (Q4_K_M GGUF) and a 1B-class model (a Llama-3.2-1B-
# shaped random checkpoint at full size, made by Scripts/make-random-checkpoint.py), each on a float
# base and on a packed one, plus long examples (tiled attention's term).
#
#   Benchmarks/TrainingMemory/check.sh [--steps 3] [--one-b FOLDER] [--python VENV/bin/python]
#
# Without --one-b the 1B folder is made under $PEFTKIT_MODELS (2.5 GB, bf16; needs a Python with torch
# and transformers: --python). Each run: LoRA r=8 α=32 on q/v, no evaluation; `peftkit train` prints
# `peak_rss_mb` (getrusage, the whole process: loading included) beside `predicted_peak_rss_mb`
# (TrainingMemory.predicted for that run). Prints a Markdown table; exits non-zero when any run is
# more than 10 % from its prediction.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=3
one_b=""
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps="$2"; shift 2 ;;
        --one-b) one_b="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
models="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
smollm2="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
gemma="$models/gemma-3-270m-q4_k_m.gguf"
[ -s "$smollm2" ] || Scripts/fetch-models.sh smollm2
[ -s "$gemma" ] || Scripts/fetch-models.sh gemma3
if [ -z "$one_b" ]; then
    one_b="$models/llama-3.2-1b-random"
    [ -s "$one_b/model.safetensors" ] || "$python" Scripts/make-random-checkpoint.py --shape llama-3.2-1b --output "$one_b" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release --product peftkit >&2
instructions=Examples/InstructionTuning/data/train.jsonl
# Long examples: documentation prompts of about 4,000 characters (≈ 1,000 tokens) and a short answer.
python3 - "$work/long.jsonl" <<'PY'
import glob, json, sys
text = " ".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob("Documentation/**/*.md", recursive=True)))
with open(sys.argv[1], "w") as out:
    for i in range(16):
        out.write(json.dumps({"prompt": text[i * 4000:(i + 1) * 4000], "completion": f" Part {i + 1}."}) + "\n")
PY
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; PEFTKit $(git rev-parse --short HEAD); $steps steps per run"
echo
echo "| model | base | data × batch | measured peak | predicted | measured ÷ predicted | s/step |"
echo "|---|---|---|---|---|---|---|"
failed=0
run() {  # name model quantization data batch
    local name="$1" model="$2" quantization="$3" data="$4" batch="$5"
    .build/release/peftkit train --model "$model" --train "$data" --quantization "$quantization" --rank 8 --alpha 32 \
        --targets q_proj,v_proj --batch-size "$batch" --max-steps "$steps" --max-length 2048 --output "$work/out" --quiet \
        > "$work/summary.json"
    python3 - "$work/summary.json" "$name" "$quantization" "$(basename "$data" .jsonl) × $batch" <<'PY' || failed=1
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
measured, predicted = s["peak_rss_mb"], s["predicted_peak_rss_mb"]
ratio = measured / predicted
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {measured:,.0f} MB | {predicted:,.0f} MB | {ratio:.3f} | {s['step_runtime'] / s['global_step']:.2f} |")
sys.exit(0 if abs(ratio - 1) <= 0.10 else 1)
PY
    rm -rf "$work/out"
}
run "SmolLM2-135M" "$smollm2" float "$instructions" 8
run "SmolLM2-135M" "$smollm2" gguf "$instructions" 8
run "SmolLM2-135M" "$smollm2" float "$work/long.jsonl" 4
run "Gemma 3 270M" "$gemma" float "$instructions" 8
run "Gemma 3 270M" "$gemma" gguf "$instructions" 8
run "Gemma 3 270M" "$gemma" gguf "$work/long.jsonl" 4
run "Llama-3.2-1B shape (random)" "$one_b" q4_1 "$instructions" 8
run "Llama-3.2-1B shape (random)" "$one_b" nf4 "$instructions" 8
run "Llama-3.2-1B shape (random)" "$one_b" float "$instructions" 8
run "Llama-3.2-1B shape (random)" "$one_b" q4_1 "$work/long.jsonl" 4
exit $failed
