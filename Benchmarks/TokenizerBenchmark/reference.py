#!/usr/bin/env python3
"""Reference side of the tokenizer benchmark: Hugging Face `tokenizers` on the same inputs.

    python Benchmarks/TokenizerBenchmark/reference.py [--write-hashes]

Prints single-thread encode throughput (MB/s) on the mixed corpus and the hostile inputs.
With --write-hashes it (re)writes hostile_reference.json: id count and FNV-1a hash per input,
which the Swift benchmark checks its ids against.
"""
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOKENIZER = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures", "smollm2", "tokenizer.json")
CORPUS = os.path.join(ROOT, "Tests", "TokenizersTests", "Fixtures", "smollm2", "cases.json")

PATTERN = "Lorem_ipsum-dolor.sit,amet;consectetur!adipiscing?elit:sed(do)eiusmod"


def mixed_text():
    """About 4 MB: the parity corpus repeated, one document per line."""
    cases = [c["text"] for c in json.load(open(CORPUS, encoding="utf-8"))["cases"]]
    block = "\n".join(cases) + "\n"
    return block * (4_000_000 // len(block.encode("utf-8")) + 1)


def hostile_inputs():
    return {
        "100k repeated characters": "a" * 100_000,
        "1 MB without spaces": (PATTERN * (1_000_000 // len(PATTERN) + 1))[:1_000_000],
        "100k spaces": " " * 100_000,
    }


def fnv1a(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    tokenizer = Tokenizer.from_file(TOKENIZER)
    tokenizer.encode_special_tokens = True
    text = mixed_text()
    lines = text.split("\n")
    start = time.perf_counter()
    for line in lines:
        tokenizer.encode(line, add_special_tokens=False)
    elapsed = time.perf_counter() - start
    size = len(text.encode("utf-8")) / 1e6
    print(f"tokenizers (Python, 1 thread): mixed corpus {size:.1f} MB in {elapsed:.2f} s = {size / elapsed:.2f} MB/s")
    hashes = {}
    for name, value in hostile_inputs().items():
        start = time.perf_counter()
        ids = tokenizer.encode(value, add_special_tokens=False).ids
        elapsed = time.perf_counter() - start
        print(f"tokenizers (Python, 1 thread): {name}: {len(ids)} ids in {elapsed:.3f} s")
        hashes[name] = {"count": len(ids), "fnv1a": f"{fnv1a(ids):016x}"}
    if "--write-hashes" in sys.argv:
        with open(os.path.join(HERE, "hostile_reference.json"), "w") as f:
            json.dump(hashes, f, indent=1)
        print("wrote hostile_reference.json")


if __name__ == "__main__":
    main()
