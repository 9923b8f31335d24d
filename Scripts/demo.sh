#!/usr/bin/env bash
# The README's main command: fetch SmolLM2-135M-Instruct if needed, build in release mode, and run the
# instruction-tuning example (Examples/InstructionTuning): the base model's exact match on held-out
# questions, LoRA training with a progress bar, the exact match after training, and the adapter saved
# in Hugging Face PEFT's format. About 4 minutes on 2 cores. Extra arguments go to the example
# (--steps, --rank, --learning-rate, --output, ... ; --help lists them).
#
#   Scripts/demo.sh
#   Scripts/demo.sh --steps 80 --rank 16 --output /tmp/my-adapter
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
Scripts/fetch-models.sh smollm2 >&2
swift build -c release --product InstructionTuning >&2
exec .build/release/InstructionTuning --model "$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
