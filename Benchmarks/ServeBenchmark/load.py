#!/usr/bin/env python3
"""Concurrent streamed load on an OpenAI-compatible server (`peftkit serve`, llama.cpp's
`llama-server`): N clients send greedy streamed chat requests (`ignore_eos`: every answer is
`max_tokens` long, whatever the model says), round-robin over the given model names, and the script prints one JSON line: aggregate completion tokens per second over the whole
run, time to first token and inter-token latency percentiles (from the arrival of server-sent
events), and every answer (to compare servers or batch sizes).

Standard library only.

    load.py --port 8080 --models base,dates --clients 16 --requests 64 --max-tokens 64 \
            --prompts Examples/InstructionTuning/data/eval.jsonl
"""
import argparse
import http.client
import json
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


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def one_request(port, model, prompt, max_tokens):
    """Streams one chat completion; returns (text, completion tokens, seconds to first token, gaps between tokens)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                       "max_tokens": max_tokens, "stream": True, "stream_options": {"include_usage": True},
                       "ignore_eos": True})
    start = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {response.read()[:300]}")
    text, tokens, first, arrivals = "", None, None, []
    for raw in response:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        event = json.loads(data)
        if event.get("usage"):
            tokens = event["usage"]["completion_tokens"]
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") or ""
            if piece:
                now = time.perf_counter()
                if first is None:
                    first = now - start
                arrivals.append(now)
                text += piece
    connection.close()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return text, tokens if tokens is not None else len(arrivals), first, gaps


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
            outcome = one_request(args.port, model, prompt, args.max_tokens)
            with lock:
                results[index] = outcome

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    tokens = sum(r[1] for r in results.values())
    firsts = [r[2] for r in results.values() if r[2] is not None]
    gaps = [g for r in results.values() for g in r[3]]
    ms = lambda v: None if v is None else round(1000 * v, 1)
    print(json.dumps({
        "label": args.label, "clients": args.clients, "requests": args.requests, "max_tokens": args.max_tokens,
        "models": models, "wall_seconds": round(wall, 3), "completion_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 2),
        "ttft_p50_ms": ms(percentile(firsts, 0.5)), "ttft_p95_ms": ms(percentile(firsts, 0.95)),
        "itl_p50_ms": ms(percentile(gaps, 0.5)), "itl_p95_ms": ms(percentile(gaps, 0.95)),
        "answers": [results[i][0] for i in sorted(results)],
    }))


if __name__ == "__main__":
    main()
