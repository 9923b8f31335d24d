#!/usr/bin/env bash
# Builds and runs fma_peak.c: the float FMA peak on 1..N threads (default: the processor count).
#   Benchmarks/FMAPeak/run.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
clang -O2 -o "$out/fma_peak" fma_peak.c -lpthread
"$out/fma_peak" "${1:-$(nproc)}"
