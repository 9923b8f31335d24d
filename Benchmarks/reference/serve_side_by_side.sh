#!/usr/bin/env bash
# Serving throughput side by side, on this machine, one server at a time: `peftkit serve` (release
# build, the GGUF's Q4_1 blocks kept packed) with --max-batch 1 and 8, on the base alone and on
# requests spread over the base and two adapters, against llama.cpp's `llama-server` on the same
# GGUF with 1 and 8 parallel slots (base only). Each run sends the same greedy chat requests from
# N concurrent clients (Benchmarks/reference/serve_load.py) and reports completion tokens per
# second and latency; the script also checks that PEFTKit's batched answers equal its one-at-a-time
# answers (continuous batching must not change a greedy answer).
#
#   Benchmarks/reference/serve_side_by_side.sh [--clients 8] [--requests 32] [--max-tokens 64] [--threads 2]
#
# llama-server is built in the llama.cpp tree that Scripts/check-llama-cpp.sh sets up (llama.cpp as
# vendored by the llama-cpp-python source package); without that tree those rows are skipped.
# Results of a run: Benchmarks/results/serve_side_by_side.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=8; requests=32; max_tokens=64; threads=$(nproc)
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients="$2"; shift 2 ;;
        --requests) requests="$2"; shift 2 ;;
        --max-tokens) max_tokens="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
models="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
llama_build="${PEFTKIT_CACHE:-$HOME/.cache/peftkit}/llama.cpp/build"
llama_server="$llama_build/bin/llama-server"
if [ ! -x "$llama_server" ] && [ -f "$llama_build/CMakeCache.txt" ]; then
    cmake --build "$llama_build" --target llama-server -j "$(nproc)" >/dev/null
fi
swift build -c release --product peftkit >&2
peftkit="$(swift build -c release --show-bin-path)/peftkit"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data=Examples/InstructionTuning/data
port=18080
export PEFTKIT_NUM_THREADS="$threads"

# Two adapters to mix with the base: the date task (LoRA on q/v) and another on o/down projections.
"$peftkit" train --model "$model" --quantization gguf --train "$data/train.jsonl" --output "$work/dates" \
    --rank 8 --alpha 32 --learning-rate 1e-3 --batch-size 8 --max-steps 20 >&2
"$peftkit" train --model "$model" --quantization gguf --train "$data/train.jsonl" --output "$work/other" \
    --targets o_proj,down_proj --rank 16 --alpha 16 --learning-rate 1e-3 --batch-size 8 --max-steps 5 --seed 7 >&2

wait_healthy() {
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server on port $port did not become healthy" >&2; return 1
}

run() {  # label, model names, server command…
    local label="$1" names="$2"; shift 2
    "$@" >"$work/server.log" 2>&1 &
    local pid=$!
    wait_healthy
    python3 Benchmarks/reference/serve_load.py --port "$port" --models "$names" --clients "$clients" \
        --requests "$requests" --max-tokens "$max_tokens" --prompts "$data/eval.jsonl" --label "$label" > "$work/$label.json"
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    port=$((port + 1))
}

serve() { echo "$peftkit" serve --model "$model" --quantization gguf --name base --adapter dates="$work/dates" --adapter other="$work/other" --max-queue 256 "$@"; }
run peftkit-batch1-base base $(serve --port $port --max-batch 1)
run peftkit-batch8-base base $(serve --port $port --max-batch 8)
run peftkit-batch1-mixed base,dates,other $(serve --port $port --max-batch 1)
run peftkit-batch8-mixed base,dates,other $(serve --port $port --max-batch 8)
if [ -x "$llama_server" ]; then
    run llama-server-np1-base base "$llama_server" -m "$model" --port $port -t "$threads" -np 1 -c 4096
    run llama-server-np8-base base "$llama_server" -m "$model" --port $port -t "$threads" -np 8 -c 8192
fi

python3 - "$work" "$clients" "$requests" "$max_tokens" "$threads" <<'PY'
import json, os, platform, subprocess, sys
work, clients, requests, max_tokens, threads = sys.argv[1:]
runs = {name[:-5]: json.load(open(os.path.join(work, name))) for name in sorted(os.listdir(work)) if name.endswith(".json")}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"Serving SmolLM2-135M-Instruct Q4_1 ({cpu}, {threads} threads): {clients} clients, {requests} greedy chat requests, max_tokens {max_tokens}.\n")
print("| server | models | completion tokens/s | p50 latency s | p90 latency s |")
print("|---|---|---|---|---|")
order = ["peftkit-batch1-base", "peftkit-batch8-base", "peftkit-batch1-mixed", "peftkit-batch8-mixed", "llama-server-np1-base", "llama-server-np8-base"]
for label in order:
    if label in runs:
        r = runs[label]
        print(f"| {label} | {','.join(r['models'])} | {r['tokens_per_second']} | {r['latency_p50']} | {r['latency_p90']} |")
for kind in ["base", "mixed"]:
    a, b = runs.get(f"peftkit-batch1-{kind}"), runs.get(f"peftkit-batch8-{kind}")
    if a and b:
        same = sum(x == y for x, y in zip(a["answers"], b["answers"]))
        print(f"\nPEFTKit {kind}: batched answers equal one-at-a-time answers for {same}/{len(a['answers'])} requests.", end="")
print()
PY
