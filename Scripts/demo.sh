#!/usr/bin/env bash
# The README's main command: fetch SmolLM2-135M-Instruct if needed, build PEFTKit in release mode,
# and ask the model a question with `peftkit generate` (greedy). Extra arguments go to generate.
#
#   Scripts/demo.sh
#   Scripts/demo.sh --prompt "Write a haiku about Swift." --temperature 0.7 --max-tokens 64
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
Scripts/fetch-models.sh smollm2 >&2
swift build -c release --product peftkit >&2
if [ "$#" -eq 0 ]; then set -- --prompt "What is the capital of France?" --max-tokens 32; fi
exec .build/release/peftkit generate --model "$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
