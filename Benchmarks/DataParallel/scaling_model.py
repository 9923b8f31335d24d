#!/usr/bin/env python3
"""Where data-parallel LoRA training keeps scaling: a documented model, fed with this machine's
measurements (Benchmarks/DataParallel/run.sh passes them).

Per step, each of N machines computes its share of the global batch, then the trainable
gradients are summed by a ring all-reduce: every machine sends and receives 2·(N−1)/N of the
gradient bytes, in 2·(N−1) rounds that each pay a latency α. Nothing overlaps (PEFTKit sums after
the backward pass), so the efficiency is compute / (compute + all-reduce).

- weak scaling: each machine keeps its batch (the global batch grows with N);
- strong scaling: the global batch is fixed and each machine's share shrinks as 1/N.

The 1B-class model is Llama-3.2-1B's shape (16 layers, hidden 2048, MLP 8192, 8 KV heads of 64),
LoRA r = 64 on every linear; its compute per example is SmolLM2's measured time scaled by the
ratio of training FLOPs (4·parameters·tokens for a frozen base: forward plus the input gradients).

    scaling_model.py --seconds-per-example 0.2 [--latency-us 20]
"""
import argparse

# 30 layers; q: 8·(576 + 576), v: 8·(576 + 192) → 460,800 values.
SMOLLM2 = {"name": "SmolLM2-135M, LoRA r=8 on q,v", "parameters": 134.5e6, "gradient_values": 30 * 8 * ((576 + 576) + (576 + 192))}
LLAMA1B = {"name": "Llama-3.2-1B shape, LoRA r=64 on all linears", "parameters": 1.236e9,
           "gradient_values": 16 * 64 * ((2048 + 2048) * 2 + (2048 + 512) * 2 + (2048 + 8192) * 3)}


def ring_seconds(values, machines, gigabits, latency):
    bytes_ = 4 * values
    return 2 * (machines - 1) / machines * bytes_ / (gigabits * 1e9 / 8) + 2 * (machines - 1) * latency


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds-per-example", type=float, required=True, help="SmolLM2 compute per example on one machine")
    parser.add_argument("--batch", type=int, default=8, help="examples per machine (weak scaling)")
    parser.add_argument("--global-batch", type=int, default=64, help="examples per step in all (strong scaling)")
    parser.add_argument("--latency-us", type=float, default=20.0)
    args = parser.parse_args()
    latency = args.latency_us * 1e-6
    machines = [2, 4, 8, 16, 32, 64]
    links = [10, 25, 100]
    for model in (SMOLLM2, LLAMA1B):
        per_example = args.seconds_per_example * model["parameters"] / SMOLLM2["parameters"]
        megabytes = 4 * model["gradient_values"] / 1e6
        print(f"\n**{model['name']}**: {model['gradient_values'] / 1e6:.2f} M trainable values ({megabytes:.1f} MB per all-reduce), "
              f"≈ {per_example:.2f} s per example per machine.\n")
        print("| machines | " + " | ".join(f"weak, {g} Gb/s" for g in links) + " | " + " | ".join(f"strong (global {args.global_batch}), {g} Gb/s" for g in links) + " |")
        print("|---|" + "---|" * (2 * len(links)))
        for n in machines:
            cells = []
            for strong in (False, True):
                for gigabits in links:
                    share = args.global_batch / n if strong else args.batch
                    compute = per_example * share
                    efficiency = compute / (compute + ring_seconds(model["gradient_values"], n, gigabits, latency))
                    cells.append(f"{100 * efficiency:.1f} %")
            print(f"| {n} | " + " | ".join(cells) + " |")
        # Where strong scaling falls below 80 % at 10 Gb/s.
        n = 2
        while n <= 4096:
            share = max(1.0, args.global_batch / n)
            compute = per_example * share
            if compute / (compute + ring_seconds(model["gradient_values"], n, 10, latency)) < 0.8 or args.global_batch / n < 1:
                break
            n *= 2
        print(f"\nStrong scaling at 10 Gb/s stays above 80 % up to {n // 2} machines "
              f"({'the global batch runs out of examples first' if args.global_batch / n < 1 else 'then the all-reduce dominates'}).")


if __name__ == "__main__":
    main()
