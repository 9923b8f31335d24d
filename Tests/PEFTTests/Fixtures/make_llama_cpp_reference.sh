#!/usr/bin/env bash
# llama.cpp's own conversion of the llama-lora fixture (peft's adapter on tiny-llama), which
# LlamaCppExportTests compares `LlamaCppAdapter.write` with:
#
#   Tests/PEFTTests/Fixtures/make_llama_cpp_reference.sh LLAMA_CPP_SOURCE [PYTHON]
#
# LLAMA_CPP_SOURCE is a llama.cpp source tree (Scripts/check-llama-cpp.sh unpacks one under
# ~/.cache/peftkit/llama.cpp/download/llama_cpp_python-*/vendor/llama.cpp); PYTHON needs torch,
# transformers and safetensors.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SOURCE="$1"
PYTHON="${2:-python3}"
"$PYTHON" "$SOURCE/convert_lora_to_gguf.py" --base "$HERE/../../ModelsTests/Fixtures/tiny-llama" --outtype f32 \
    --outfile "$HERE/llama-lora.llama-cpp.gguf" "$HERE/llama-lora"
