#!/usr/bin/env bash
# Serving benchmark, on this machine, one server at a time: `peftkit serve` (release build, the
# GGUF's Q4_1 blocks kept packed, --max-batch 32) under 1, 4, 16 and 32 concurrent streaming clients
# whose greedy chat requests are spread round-robin over the base and four adapters; the same with
# the base alone at 16 clients; and llama.cpp's `llama-server` on the same GGUF (32 slots, base
# only) under the same loads. One client is the same load sent one request at a time. Reports
# aggregate completion tokens per second, time to first token and inter-token latency (p50/p95),
# the issue's goal (16 clients over 4 adapters: ≥ 4× one client's tokens/s with p95 inter-token
# latency ≤ 3× one client's), and whether every batched answer equals the one-at-a-time answer.
#
#   Benchmarks/ServeBenchmark/run.sh [--max-tokens 64] [--threads N]
#
# llama-server is built in the llama.cpp tree that Scripts/check-llama-cpp.sh sets up (llama.cpp as
# vendored by the llama-cpp-python source package); without that tree its rows are skipped.
# Results of a run: Benchmarks/results/serve_benchmark.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
max_tokens=64; threads=$(nproc)
while [ $# -gt 0 ]; do
    case "$1" in
        --max-tokens) max_tokens="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
models="${PEFTKIT_MODELS:-$HOME/.cache/peftkit/models}"
model="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -s "$model" ] || Scripts/fetch-models.sh smollm2
llama_server="$(Scripts/build-llama-cpp.sh llama-server)/llama-server"
swift build -c release --product peftkit >&2
peftkit="$(swift build -c release --show-bin-path)/peftkit"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
data=Examples/InstructionTuning/data
port=18080
export PEFTKIT_NUM_THREADS="$threads"

# Four adapters of the base, unlike each other: the date task on q/v, and three short runs on other layers.
train() { "$peftkit" train --model "$model" --quantization gguf --train "$data/train.jsonl" --batch-size 8 --learning-rate 1e-3 "$@" >&2; }
train --output "$work/dates" --rank 8 --alpha 32 --max-steps 20
train --output "$work/mlp" --targets gate_proj,up_proj --rank 8 --alpha 16 --max-steps 5 --seed 2
train --output "$work/out" --targets o_proj,down_proj --rank 16 --alpha 16 --max-steps 5 --seed 3
train --output "$work/attn" --targets q_proj,k_proj,v_proj,o_proj --rank 4 --alpha 8 --max-steps 5 --seed 4

wait_healthy() {
    for _ in $(seq 1 600); do
        curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server on port $port did not become healthy" >&2; return 1
}

start() { "$@" >"$work/server.log" 2>&1 & server=$!; wait_healthy; }
stop() { kill -INT "$server"; wait "$server" 2>/dev/null || true; port=$((port + 1)); }
load() {  # label, model names, clients
    local requests=$(( $3 * 2 > 16 ? $3 * 2 : 16 ))
    python3 Benchmarks/ServeBenchmark/load.py --port "$port" --models "$2" --clients "$3" --requests "$requests" \
        --max-tokens "$max_tokens" --prompts "$data/eval.jsonl" --label "$1" > "$work/$1.json"
}

mixed=base,dates,mlp,out,attn
start "$peftkit" serve --model "$model" --quantization gguf --name base --adapter dates="$work/dates" --adapter mlp="$work/mlp" \
    --adapter out="$work/out" --adapter attn="$work/attn" --max-batch 32 --max-queue 256 --port $port
for clients in 1 4 16 32; do load "peftkit-mixed-c$clients" "$mixed" "$clients"; done
load "peftkit-base-c16" base 16
stop
if [ -x "$llama_server" ]; then
    start "$llama_server" -m "$model" --port $port -t "$threads" -np 32 -c 16384
    for clients in 1 4 16 32; do load "llama-server-base-c$clients" base "$clients"; done
    stop
fi

python3 - "$work" "$max_tokens" "$threads" <<'PY'
import json, os, platform, sys
work, max_tokens, threads = sys.argv[1:]
runs = {name[:-5]: json.load(open(os.path.join(work, name))) for name in os.listdir(work) if name.endswith(".json")}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
print(f"Serving SmolLM2-135M-Instruct Q4_1 on {cpu} ({threads} threads): streamed greedy chat requests "
      f"(max_tokens {max_tokens} with ignore_eos, 2 per client, at least 16), round-robin over the listed models.\n")
print("| server | models | clients | completion tokens/s | TTFT p50 / p95 ms | inter-token p50 / p95 ms |")
print("|---|---|---|---|---|---|")
order = [f"peftkit-mixed-c{c}" for c in (1, 4, 16, 32)] + ["peftkit-base-c16"] + [f"llama-server-base-c{c}" for c in (1, 4, 16, 32)]
for label in order:
    if label in runs:
        r = runs[label]
        server = label.rsplit("-", 2)[0]
        print(f"| {server} | {','.join(r['models'])} | {r['clients']} | {r['tokens_per_second']} | "
              f"{r['ttft_p50_ms']} / {r['ttft_p95_ms']} | {r['itl_p50_ms']} / {r['itl_p95_ms']} |")
one, sixteen = runs.get("peftkit-mixed-c1"), runs.get("peftkit-mixed-c16")
if one and sixteen:
    speedup = sixteen["tokens_per_second"] / one["tokens_per_second"]
    latency = sixteen["itl_p95_ms"] / one["itl_p95_ms"]
    verdict = "met" if speedup >= 4 and latency <= 3 else "not met"
    print(f"\nGoal (16 clients over 4 adapters and the base against one client): tokens/s ×{speedup:.2f} (≥ 4), "
          f"p95 inter-token latency ×{latency:.2f} (≤ 3): {verdict}.")
reference = one["answers"] if one else []
for label in order:
    if label.startswith("peftkit-mixed") and label in runs and reference:
        answers = runs[label]["answers"]
        same = sum(a == b for a, b in zip(reference, answers))
        print(f"{label}: {same}/{min(len(reference), len(answers))} answers equal the one-at-a-time answers.")
PY
