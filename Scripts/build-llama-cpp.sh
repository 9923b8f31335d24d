#!/usr/bin/env bash
# Builds llama.cpp tools from the llama-cpp-python source package (which vendors llama.cpp) into
# $PEFTKIT_CACHE/llama.cpp/build (default ~/.cache/peftkit), for the checks and benchmarks that
# compare with it; prints the folder holding the binaries.
#
#   Scripts/build-llama-cpp.sh [TARGET ...]     (default: llama-completion; e.g. llama-bench llama-server)
#
# Needs Python 3 with pip (PYTHON), CMake and a C++ compiler (as root on Debian it installs cmake).
# Targets already built are left as they are.
set -euo pipefail
CACHE="${PEFTKIT_CACHE:-$HOME/.cache/peftkit}"
PYTHON="${PYTHON:-python3}"
LLAMA="$CACHE/llama.cpp"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(llama-completion)
if [ ! -f "$LLAMA/build/CMakeCache.txt" ]; then
    command -v cmake >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q cmake >/dev/null; }
    mkdir -p "$LLAMA/download"
    if ! ls "$LLAMA"/download/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
        # The source package's metadata step runs its build backend: give pip one to use.
        "$PYTHON" -m pip install -q scikit-build-core >/dev/null
        "$PYTHON" -m pip download -q --no-deps --no-build-isolation --no-binary :all: llama-cpp-python -d "$LLAMA/download" >&2
    fi
    tar xzf "$(ls "$LLAMA"/download/llama_cpp_python-*.tar.gz | tail -1)" -C "$LLAMA/download"
    SOURCE="$(ls -d "$LLAMA"/download/llama_cpp_python-*/vendor/llama.cpp | tail -1)"
    cmake -S "$SOURCE" -B "$LLAMA/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF >/dev/null
fi
for target in "${targets[@]}"; do
    [ -x "$LLAMA/build/bin/$target" ] || cmake --build "$LLAMA/build" --target "$target" -j "$(nproc)" >/dev/null
done
echo "$LLAMA/build/bin"
