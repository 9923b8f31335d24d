#!/usr/bin/env bash
# Opt-in check of `peftkit export` against real llama.cpp: builds llama.cpp from the llama-cpp-python
# source package (which vendors it), exports a LoRA adapter for SmolLM2 both ways (a llama.cpp LoRA
# GGUF, and the merged model as a GGUF), and compares llama.cpp's greedy continuations with
# `peftkit generate`'s on a few prompts.
#
#   Scripts/check-llama-cpp.sh [ADAPTER_DIR]     (default: Tests/PEFTTests/Fixtures/smollm2-lora)
#
# Needs Python 3 with pip, CMake and a C++ compiler (as root on Debian it installs cmake), and the
# SmolLM2 model (Scripts/fetch-models.sh smollm2). llama.cpp is built by Scripts/build-llama-cpp.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${PEFTKIT_CACHE:-$HOME/.cache/peftkit}"
MODELS="${PEFTKIT_MODELS:-$CACHE/models}"
MODEL="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTER="${1:-Tests/PEFTTests/Fixtures/smollm2-lora}"
PYTHON="${PYTHON:-python3}"

[ -f "$MODEL" ] || Scripts/fetch-models.sh smollm2

LLAMA_BIN="$(PYTHON="$PYTHON" Scripts/build-llama-cpp.sh llama-completion)"

swift build -c release --product peftkit >/dev/null
PEFTKIT=".build/release/peftkit"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Float32 throughout, so that both sides compute the same function: the quantized base re-encoded
# as f32 (llama.cpp's Q4_1 kernels round activations to 8 bits, PEFTKit's float path does not, and
# greedy continuations of the bare quantized base already part after a few tokens).
BASE="$WORK/base-f32.gguf"
"$PEFTKIT" export --model "$MODEL" --output "$BASE" --format gguf --type f32 --all-tensors
"$PEFTKIT" export --model "$BASE" --adapter "$ADAPTER" --output "$WORK/adapter.gguf" --type f32
"$PEFTKIT" export --model "$BASE" --adapter "$ADAPTER" --output "$WORK/merged.gguf" --format gguf --type f32

PROMPTS=("The capital of France is" "Once upon a time" "def fibonacci(n):" "The three primary colours are")
TOKENS=24
same=0
total=0
for prompt in "${PROMPTS[@]}"; do
    ours="$("$PEFTKIT" generate --model "$BASE" --adapter "$ADAPTER" --raw --prompt "$prompt" --max-tokens $TOKENS 2>/dev/null)"
    for variant in lora merged; do
        if [ $variant = lora ]; then args=(-m "$BASE" --lora "$WORK/adapter.gguf"); else args=(-m "$WORK/merged.gguf"); fi
        theirs="$("$LLAMA_BIN/llama-completion" "${args[@]}" -p "$prompt" -n $TOKENS --temp 0 --top-k 1 -no-cnv --no-display-prompt \
                  --simple-io -t "$(nproc)" 2>/dev/null || true)"
        total=$((total + 1))
        if [ "${theirs%$'\n'}" = "${ours%$'\n'}" ]; then same=$((same + 1)); verdict=same; else verdict=DIFFERENT; fi
        printf '%-9s %-6s %s\n  peftkit:   %q\n  llama.cpp: %q\n' "$verdict" "$variant" "$prompt" "$ours" "$theirs"
    done
done
echo "llama.cpp gave peftkit's greedy continuation in $same of $total runs"
[ "$same" = "$total" ]
