#!/usr/bin/env bash
# Long examples side by side: the same LoRA training on examples of ≈ 512, 1024 and 2048 tokens with
# PyTorch + transformers + peft (float32, attention through `sdpa`, transformers' default) and with
# peftkit (release build, float32; tiled attention from 512 tokens on), one after the other on this
# machine, and a Markdown table of seconds per step and peak resident memory.
#
#   Benchmarks/reference/long_sequences.sh [--python VENV/bin/python] [--steps 4] [--lengths 512:4,1024:2,2048:1]
#
# --lengths lists length:batch pairs. The examples are completion records: a prompt cut from this
# project's documentation to the length (with the model's tokenizer), then a one-line answer, so
# both sides train the same tokens (no truncation). SmolLM2-135M-Instruct (its Q4_1 GGUF,
# dequantized to float32 by both), LoRA r=8 α=32 on q_proj,v_proj, dropout 0, AdamW 1e-3, both from
# PyTorch's initial adapter: the last column compares their losses step by step (the same work).
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
steps=4
lengths="512:4,1024:2,2048:1"
while [ $# -gt 0 ]; do
    case "$1" in
        --python) python="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --lengths) lengths="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
model="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
swift build -c release --product peftkit >&2
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|avx512_vnni|avx_vnni|avx512_fp16|amx_tile|amx_bf16)$' | xargs)
versions=$("$python" -c 'import torch, transformers, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")')
flags=(--rank 8 --alpha 32 --dropout 0 --targets q_proj,v_proj --learning-rate 1e-3 --max-steps "$steps" --logging-steps 1)
echo "| length × batch | PyTorch s/step | PyTorch peak RSS | peftkit s/step | peftkit peak RSS | PyTorch / peftkit | largest step-loss difference |"
echo "|---|---|---|---|---|---|---|"
for pair in ${lengths//,/ }; do
    length=${pair%%:*}
    batch=${pair##*:}
    data="$work/long-$length.jsonl"
    "$python" - "$model" "$length" "$((batch * steps))" "$data" <<'PY'
import glob, json, os, sys
from transformers import AutoTokenizer
model, length, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
folder, name = os.path.split(os.path.abspath(model))
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
text = "\n\n".join(open(p, encoding="utf-8").read() for p in sorted(glob.glob("Documentation/**/*.md", recursive=True)))
ids = tokenizer(text, add_special_tokens=False)["input_ids"]
prompt_tokens = length - 16
with open(out, "w") as handle:
    for index in range(count):
        start = (index * prompt_tokens) % max(1, len(ids) - prompt_tokens)
        prompt = tokenizer.decode(ids[start:start + prompt_tokens])
        handle.write(json.dumps({"prompt": prompt, "completion": f" That was part {index + 1} of the guide."}) + "\n")
PY
    "$python" Benchmarks/reference/train_reference.py --model "$model" --train "$data" "${flags[@]}" --batch-size "$batch" \
        --max-length $((length + 256)) --output "$work/torch-$length" --save-initial "$work/initial-$length" \
        > "$work/torch-$length.json" 2> "$work/torch-$length.err" \
        || { cat "$work/torch-$length.err" >&2; exit 1; }
    .build/release/peftkit train --model "$model" --train "$data" "${flags[@]}" --batch-size "$batch" --max-length $((length + 256)) \
        --init-adapter "$work/initial-$length" --output "$work/peftkit-$length" --quiet > "$work/peftkit-$length.json"
    "$python" - "$work/torch-$length.json" "$work/peftkit-$length.json" "$length" "$batch" "$work/torch-$length.err" \
        "$work/peftkit-$length/metrics.jsonl" <<'PY'
import json, sys
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
theirs, ours = last(sys.argv[1]), last(sys.argv[2])
t = theirs["step_runtime"] / theirs["global_step"]
o = ours["step_runtime"] / ours["global_step"]
def losses(path):
    rows = []
    for line in open(path):
        if line.startswith("{") and '"loss"' in line:
            rows.append(json.loads(line)["loss"])
    return rows
worst = max(abs(a - b) for a, b in zip(losses(sys.argv[5]), losses(sys.argv[6])))
print(f"| {sys.argv[3]} × {sys.argv[4]} | {t:.2f} | {theirs['peak_rss_mb']:,} MB | {o:.2f} | {ours['peak_rss_mb']:,} MB | {t / o:.2f}× | {worst:.1e} |")
PY
done
echo
echo "On $cpu ($(nproc) cores; flags: $cpu_flags), $versions, PEFTKit $(git rev-parse --short HEAD); both sides float32, $steps steps each."
