#!/usr/bin/env bash
# The same LoRA training with peftkit (release build) and with PyTorch + transformers + peft, one after
# the other on this machine, and a Markdown table of their summaries.
#
#   Benchmarks/reference/side_by_side.sh [--python VENV/bin/python] [--steps N] [--quantized gguf|q8_0|q4_1]
#                                        [--reduced bfloat16|float16] [-- extra flags for both]
#
# Always: PyTorch float32 and peftkit float32 on the float (dequantized) base.
# --quantized adds peftkit on that packed base (QLoRA; `--quantization`).
# --reduced adds PyTorch under torch.autocast(cpu, that dtype) — what Hugging Face's Trainer does with
#   bf16=True on a CPU — and peftkit with `--matmul-precision` of the same name on each of its bases,
#   so reduced precision is compared with reduced precision.
#
# Defaults: SmolLM2-135M-Instruct (Q4_1 GGUF; transformers dequantizes it to float32, PEFTKit too),
# the instruction task of Examples/InstructionTuning, LoRA r=8 α=32 on q_proj,v_proj, batch 8,
# AdamW 1e-3 with 10 warm-up steps, 30 steps, eval on the first 50 held-out records with exact match.
# Dropout is 0 so both runs compute the same function (PyTorch draws its own dropout masks), and
# every run starts from PyTorch's initial adapter. The header names the CPU, its vector flags and
# the exact versions of both sides.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
steps=30
quantized=""
reduced=""
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --quantized) quantized="$2"; shift 2 ;;
        --reduced) reduced="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case "$reduced" in ""|bfloat16|float16) ;; *) echo "--reduced takes bfloat16 or float16" >&2; exit 2 ;; esac
model="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
data=Examples/InstructionTuning/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -50 "$data/eval.jsonl" > "$work/eval.jsonl"
flags=(--model "$model" --train "$data/train.jsonl" --eval "$work/eval.jsonl" --rank 8 --alpha 32 --dropout 0
       --targets q_proj,v_proj --learning-rate 1e-3 --batch-size 8 --max-steps "$steps" --warmup-steps 10
       --max-new-tokens 16 --logging-steps 10 "$@")
swift build -c release --product peftkit >&2
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|avx512_vnni|avx_vnni|avx512_fp16|amx_tile|amx_bf16)$' | xargs)
versions=$("$python" -c 'import torch, transformers, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")')
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; flags: $cpu_flags"
echo "PyTorch side: $versions (torch threads: $(nproc)); PEFTKit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources || echo '+changes'), $steps steps"
echo

# name|kind|extra flags — PyTorch first: its first run saves the freshly initialised adapter, and every
# other run starts from those weights (--init-adapter), so all train the same function from one point.
runs=("PyTorch float32|torch|" "PEFTKit float32|peftkit|--matmul-precision float32")
[ -n "$quantized" ] && runs+=("PEFTKit float32, $quantized|peftkit|--quantization $quantized --matmul-precision float32")
if [ -n "$reduced" ]; then
    runs+=("PyTorch autocast $reduced|torch|--autocast $reduced" "PEFTKit $reduced|peftkit|--matmul-precision $reduced")
    [ -n "$quantized" ] && runs+=("PEFTKit $reduced, $quantized|peftkit|--quantization $quantized --matmul-precision $reduced")
fi
index=0
for run in "${runs[@]}"; do
    IFS='|' read -r name kind extra <<< "$run"
    echo "== $name" >&2
    # shellcheck disable=SC2086
    if [ "$kind" = torch ]; then
        initial=()
        [ -d "$work/initial" ] || initial=(--save-initial "$work/initial")
        "$python" Benchmarks/reference/train_reference.py "${flags[@]}" $extra --output "$work/out$index" "${initial[@]}" \
            > "$work/run$index.json" 2> "$work/run$index.err" || { cat "$work/run$index.err" >&2; exit 1; }
    else
        .build/release/peftkit train "${flags[@]}" $extra --init-adapter "$work/initial" --output "$work/out$index" --quiet \
            > "$work/run$index.json"
    fi
    echo "$name" > "$work/run$index.name"
    index=$((index + 1))
done
"$python" - "$work" "$index" <<'PY'
import json, sys
work, count = sys.argv[1], int(sys.argv[2])
names = [open(f"{work}/run{i}.name").read().strip() for i in range(count)]
summaries = [json.loads(open(f"{work}/run{i}.json").read().strip().splitlines()[-1]) for i in range(count)]
# step_* time optimizer steps alone on every side (the speed comparison); train_runtime also holds
# PEFTKit's end-of-run evaluation and saving.
keys = ["step_runtime", "step_samples_per_second", "train_runtime", "train_loss", "eval_loss", "eval_exact_match",
        "peak_rss_mb", "trainable_parameters"]
fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
print("| metric | " + " | ".join(names) + " |")
print("|---|" + "---|" * count)
for key in keys:
    print(f"| {key} | " + " | ".join(fmt(s.get(key)) for s in summaries) + " |")
# Speed ratios: examples per second against each PyTorch run; eval loss against the float32 run of the
# same side and base (reduced precision must stay within 1 % of it).
for j, reference in enumerate(names):
    if not reference.startswith("PyTorch"):
        continue
    base = summaries[j]["step_samples_per_second"]
    print(f"| speed ÷ {reference} | " + " | ".join(f"{s['step_samples_per_second'] / base:.2f}" for s in summaries) + " |")
def float_partner(name):
    for precision in ("bfloat16", "float16"):
        if precision in name:
            partner = name.replace(f"autocast {precision}", "float32").replace(precision, "float32")
            return names.index(partner) if partner in names else None
    return None
cells = []
for i, name in enumerate(names):
    partner = float_partner(name)
    cells.append(f"{(summaries[i]['eval_loss'] / summaries[partner]['eval_loss'] - 1) * 100:+.2f} %" if partner is not None else "")
if any(cells):
    print("| eval_loss vs the float32 run | " + " | ".join(cells) + " |")
PY
