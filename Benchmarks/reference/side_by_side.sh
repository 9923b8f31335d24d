#!/usr/bin/env bash
# The same LoRA training with peftkit (release build) and with PyTorch + transformers + peft, one after
# the other on this machine, and a Markdown table of their summaries.
#
#   Benchmarks/reference/side_by_side.sh [--python VENV/bin/python] [--steps N] [--quantized gguf|q8_0|q4_1]
#                                        [--matmul-precision float32|float16|bfloat16] [-- extra flags for both]
#
# --quantized adds a second peftkit run with that --quantization (QLoRA on a packed base) and a column.
# --matmul-precision is passed to the peftkit runs only (PyTorch stays in float32, its CPU default).
#
# Defaults: SmolLM2-135M-Instruct (Q4_1 GGUF; transformers dequantizes it to float32, PEFTKit too),
# the instruction task of Examples/InstructionTuning, LoRA r=8 α=32 on q_proj,v_proj, batch 8,
# AdamW 1e-3 with 10 warm-up steps, 30 steps, eval on the first 50 held-out records with exact match.
# Dropout is 0 so both runs compute the same function (PyTorch draws its own dropout masks), and
# both start from PyTorch's initial adapter.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
steps=30
quantized=""
precision=float32
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --quantized) quantized="$2"; shift 2 ;;
        --matmul-precision) precision="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
model="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
data=Examples/InstructionTuning/data
work=$(mktemp -d)
head -50 "$data/eval.jsonl" > "$work/eval.jsonl"
flags=(--model "$model" --train "$data/train.jsonl" --eval "$work/eval.jsonl" --rank 8 --alpha 32 --dropout 0
       --targets q_proj,v_proj --learning-rate 1e-3 --batch-size 8 --max-steps "$steps" --warmup-steps 10
       --max-new-tokens 16 --logging-steps 10 "$@")
swift build -c release --product peftkit >&2
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; peftkit --matmul-precision $precision" >&2
# PyTorch first: it saves its freshly initialised adapter, and peftkit starts from those weights
# (--init-adapter), so both runs train the same function from the same point.
echo "== PyTorch + peft" >&2
"$python" Benchmarks/reference/train_reference.py "${flags[@]}" --output "$work/torch" --save-initial "$work/initial" \
    > "$work/torch.json" 2> "$work/torch.err" || { cat "$work/torch.err" >&2; exit 1; }
echo "== peftkit" >&2
.build/release/peftkit train "${flags[@]}" --init-adapter "$work/initial" --matmul-precision "$precision" --output "$work/peftkit" --quiet > "$work/peftkit.json"
if [ -n "$quantized" ]; then
    echo "== peftkit --quantization $quantized" >&2
    .build/release/peftkit train "${flags[@]}" --init-adapter "$work/initial" --quantization "$quantized" --matmul-precision "$precision" \
        --output "$work/packed" --quiet > "$work/packed.json"
fi
"$python" - "$work/peftkit.json" "$work/torch.json" "$work/packed.json" "$quantized" <<'PY'
import json, os, sys
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
ours, theirs = last(sys.argv[1]), last(sys.argv[2])
packed = last(sys.argv[3]) if sys.argv[4] and os.path.exists(sys.argv[3]) else None
# step_* time optimizer steps alone on both sides (the speed comparison); train_runtime also holds
# PEFTKit's end-of-run evaluation and saving.
keys = ["step_runtime", "step_samples_per_second", "train_runtime", "train_loss", "eval_loss", "eval_exact_match",
        "peak_rss_mb", "trainable_parameters"]
fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
ratio = lambda a, b: f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else ""
if packed is None:
    print("| metric | PEFTKit | PyTorch + peft | ratio |")
    print("|---|---|---|---|")
    for key in keys:
        print(f"| {key} | {fmt(ours.get(key))} | {fmt(theirs.get(key))} | {ratio(ours.get(key), theirs.get(key))} |")
else:
    name = sys.argv[4]
    print(f"| metric | PEFTKit float | PEFTKit {name} | PyTorch + peft | float ÷ PyTorch | {name} ÷ PyTorch |")
    print("|---|---|---|---|---|---|")
    for key in keys:
        a, q, b = ours.get(key), packed.get(key), theirs.get(key)
        print(f"| {key} | {fmt(a)} | {fmt(q)} | {fmt(b)} | {ratio(a, b)} | {ratio(q, b)} |")
PY
rm -rf "$work"
