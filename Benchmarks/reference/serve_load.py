#!/usr/bin/env python3
"""Concurrent load on an OpenAI-compatible server (PEFTKit's `peftkit serve`, llama.cpp's
`llama-server`): N clients send greedy chat requests, round-robin over the given model names,
and the script prints one JSON line: completion tokens per second over the whole run, latency
percentiles, and every answer (to compare servers or batch sizes).

Standard library only.

    serve_load.py --port 8080 --models base,dates --clients 8 --requests 32 --max-tokens 64 \
                  --prompts Examples/InstructionTuning/data/eval.jsonl
"""
import argparse
import http.client
import json
import statistics
import threading
import time


def prompts_from(path, count):
    out = []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            text = record.get("instruction") or record.get("prompt") or record.get("input")
            if text is None and "messages" in record:
                text = next(m["content"] for m in record["messages"] if m["role"] == "user")
            out.append(text)
            if len(out) == count:
                break
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--models", required=True, help="comma-separated names, used round-robin")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    models = args.models.split(",")
    prompts = prompts_from(args.prompts, args.requests)
    jobs = [(i, models[i % len(models)], prompts[i % len(prompts)]) for i in range(args.requests)]
    lock = threading.Lock()
    results = {}

    def worker():
        while True:
            with lock:
                if not jobs:
                    return
                index, model, prompt = jobs.pop(0)
            body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                               "temperature": 0, "max_tokens": args.max_tokens})
            start = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = json.loads(response.read())
            elapsed = time.perf_counter() - start
            connection.close()
            if response.status != 200:
                raise SystemExit(f"request {index}: HTTP {response.status}: {payload}")
            with lock:
                results[index] = {"model": model, "seconds": elapsed,
                                  "tokens": payload["usage"]["completion_tokens"],
                                  "text": payload["choices"][0]["message"]["content"]}

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    latencies = sorted(r["seconds"] for r in results.values())
    tokens = sum(r["tokens"] for r in results.values())
    print(json.dumps({
        "label": args.label, "clients": args.clients, "requests": args.requests, "max_tokens": args.max_tokens,
        "models": models, "wall_seconds": round(wall, 3), "completion_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 2),
        "latency_p50": round(statistics.median(latencies), 3),
        "latency_p90": round(latencies[int(0.9 * (len(latencies) - 1))], 3),
        "answers": [results[i]["text"] for i in sorted(results)],
    }))


if __name__ == "__main__":
    main()
