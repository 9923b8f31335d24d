#!/usr/bin/env bash
# Prompt processing and decoding side by side with llama.cpp on the same GGUF files and threads:
# llama.cpp's `llama-bench` (pp512, tg128) and PEFTKit's DecodeBenchmark (a 512-token prompt, then
# 128 greedy tokens with integer activations, `peftkit generate`'s default), one after the other.
#
#   Benchmarks/reference/llama_cpp_side_by_side.sh [--threads N] [--runs 3] [MODEL.gguf ...]
#
# Default models: SmolLM2-135M-Instruct Q4_1 and, when present, Gemma 3 270M Q4_K_M (a K-quant), from
# $PEFTKIT_MODELS. llama.cpp is built from the llama-cpp-python source package
# (Scripts/build-llama-cpp.sh). Prints a Markdown table with both sides and the ratios, and the
# versions and CPU flags both ran with.
#
# Not the same measurement in one respect: llama-bench's tg128 decodes from an empty context,
# PEFTKit's decode rate is measured after a 24-token prompt.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=$(nproc)
runs=3
models=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) models+=("$1"); shift ;;
    esac
done
folder="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
if [ ${#models[@]} -eq 0 ]; then
    [ -s "$folder/SmolLM2-135M-Instruct.Q4_1.gguf" ] || Scripts/fetch-models.sh smollm2
    models=("$folder/SmolLM2-135M-Instruct.Q4_1.gguf")
    [ -s "$folder/gemma-3-270m-q4_k_m.gguf" ] && models+=("$folder/gemma-3-270m-q4_k_m.gguf")
fi
bin="$(Scripts/build-llama-cpp.sh llama-bench)"
swift build -c release --product DecodeBenchmark >&2
decode="$(swift build -c release --show-bin-path)/DecodeBenchmark"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "| model | llama.cpp pp512 tok/s | PEFTKit pp512 tok/s | PEFTKit / llama.cpp | llama.cpp tg128 tok/s | PEFTKit decode tok/s | PEFTKit / llama.cpp |"
echo "|---|---|---|---|---|---|---|"
for model in "${models[@]}"; do
    "$bin/llama-bench" -m "$model" -p 512 -n 128 -t "$threads" -r "$runs" -o json > "$work/llama.json" 2> "$work/llama.err" \
        || { cat "$work/llama.err" >&2; exit 1; }
    "$decode" --model "$model" --tokens 128 --runs "$runs" --threads "$threads" --variants integer --prefill 512 > "$work/peftkit.txt"
    python3 - "$work/llama.json" "$work/peftkit.txt" "$(basename "$model")" <<'PY'
import json, re, sys
tests = json.load(open(sys.argv[1]))
pp = next(t["avg_ts"] for t in tests if t["n_prompt"] == 512 and t["n_gen"] == 0)
tg = next(t["avg_ts"] for t in tests if t["n_gen"] == 128 and t["n_prompt"] == 0)
text = open(sys.argv[2]).read()
decode = float(re.search(r"^integer\s+([\d.]+) tok/s \(median", text, re.M).group(1))
prefill = float(re.search(r"([\d.]+) tok/s prompt processing", text).group(1))
print(f"| {sys.argv[3]} | {pp:.1f} | {prefill:.1f} | {prefill / pp:.2f}× | {tg:.1f} | {decode:.1f} | {decode / tg:.2f}× |")
PY
done
echo
version=$(python3 -c "import json,sys; t=json.load(open('$work/llama.json'))[0]; print(t.get('build_commit','?'), t.get('build_number','?'))")
echo "llama.cpp build ${version} (llama-bench -t $threads -r $runs); PEFTKit $(git rev-parse --short HEAD), $threads threads, GEMM kernel: $(grep -o 'GEMM: [a-z0-9]*' "$work/peftkit.txt")."
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|avx512_fp16|amx_tile|fma)$' | xargs)."
