#!/usr/bin/env python3
"""Continue a PEFTKit training run in PyTorch + transformers + peft — the road to GPUs.

A PEFTKit checkpoint folder (`out/checkpoint-N`) holds the adapter in PEFT's format, the AdamW
moments of every trainable tensor (`optimizer.safetensors`), their step counts and the run's
settings (`trainer_state.json`). This script loads the base model and the adapter with peft, turns
the moments into a `torch.optim.AdamW` state, and trains on from step N with the same data order,
schedule, clipping and weight decay as PEFTKit (`Benchmarks/reference/peftkit_reference.py`
mirrors them). Pass `--device cuda` on a GPU machine; `--accelerate` hands the model and the
optimizer (with its moments) to accelerate's `Accelerator.prepare` and trains through it, on one
device: spreading the run over several GPUs needs each process to take its share of every batch as
PEFTKit's ranks do, which this script does not mirror, so it refuses to run under several processes.

    python Scripts/continue_in_pytorch.py --checkpoint out/checkpoint-20 --model HF_FOLDER \\
        --train data.jsonl --steps 10 [--max-length 512] [--output continued/] [--check out/metrics.jsonl] [--accelerate]

--check compares each continued step's loss with the loss PEFTKit logged for that step (a run with
--logging-steps 1 past the checkpoint) and fails above 1e-4. Needs torch, transformers, peft,
safetensors; the base must be a Hugging Face folder (for a GGUF base, `peftkit merge` or
`peftkit export --format gguf` first gives one transformers reads).
"""
import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Benchmarks", "reference"))
import peftkit_reference as reference  # noqa: E402


def load_moments(checkpoint, model, optimizer, counters):
    """Puts PEFTKit's AdamW moments and step counts into `optimizer`'s state."""
    tensors = load_file(os.path.join(checkpoint, "optimizer.safetensors"))
    loaded = 0
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # peft's names put "base_model.model." before the model's own paths, which PEFTKit uses.
        key = name[len("base_model.model."):] if name.startswith("base_model.model.") else name
        if key + ".exp_avg" not in tensors:
            raise SystemExit(f"the checkpoint has no AdamW moments for {key}")
        state = optimizer.state[parameter]
        state["step"] = torch.tensor(float(counters[key + ".step"]))
        state["exp_avg"] = tensors[key + ".exp_avg"].to(parameter.device, parameter.dtype).reshape(parameter.shape).clone()
        state["exp_avg_sq"] = tensors[key + ".exp_avg_sq"].to(parameter.device, parameter.dtype).reshape(parameter.shape).clone()
        loaded += 1
    return loaded


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--model", required=True, help="the base model as a Hugging Face folder")
    parser.add_argument("--train", required=True)
    parser.add_argument("--steps", type=int, required=True, help="steps to train beyond the checkpoint")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output")
    parser.add_argument("--check")
    parser.add_argument("--accelerate", action="store_true", help="train through accelerate's Accelerator (one device)")
    args = parser.parse_args()

    saved = json.load(open(os.path.join(args.checkpoint, "trainer_state.json")))
    settings, state = saved["arguments"], saved["state"]
    if saved.get("optimizerKind") != "AdamW":
        raise SystemExit(f"only AdamW checkpoints continue here (this one: {saved.get('optimizerKind')})")
    if settings.get("packing"):
        raise SystemExit("a packed run's batches are not mirrored here")
    start = state["step"]
    total = max(state["totalSteps"], start + args.steps)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    base = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).to(args.device)
    model = PeftModel.from_pretrained(base, args.checkpoint, is_trainable=True)
    examples = []
    for record in reference.read_records(args.train):
        ids, labels, _ = reference.tokenize(record, tokenizer, args.max_length)
        examples.append((ids, labels))

    optimizer = reference.make_optimizer(model, settings["learningRate"], settings["weightDecay"], torch)
    for group in optimizer.param_groups:
        group["betas"] = (settings["adamBeta1"], settings["adamBeta2"])
        group["eps"] = settings["adamEpsilon"]
    moments = load_moments(args.checkpoint, model, optimizer, saved["optimizerCounters"])
    warmup = settings["warmupSteps"] or int(-(-settings["warmupRatio"] * state["totalSteps"] // 1))
    print(f"continuing from step {start} with {moments} tensors' AdamW moments, to step {start + args.steps}", file=sys.stderr)
    trained = model
    if args.accelerate:
        from accelerate import Accelerator
        accelerator = Accelerator(cpu=args.device == "cpu")
        if accelerator.num_processes > 1:
            raise SystemExit("--accelerate continues on one device: several processes would each train on every batch")
        model, optimizer = accelerator.prepare(model, optimizer)
        trained = accelerator.unwrap_model(model)
        print(f"through accelerate {__import__('accelerate').__version__} on {accelerator.device}", file=sys.stderr)
    losses = reference.train(model, examples, torch=torch, batch_size=settings["batchSize"], accumulation=settings["gradientAccumulationSteps"],
                             steps=start + args.steps, start_step=start, optimizer=optimizer, learning_rate=settings["learningRate"],
                             weight_decay=settings["weightDecay"], warmup=warmup, shape=settings["schedule"],
                             max_grad_norm=settings["maxGradientNorm"], seed=settings["seed"], shuffled=settings["shuffle"],
                             group_by_length=settings["groupByLength"])
    if total != state["totalSteps"]:
        print(f"note: the schedule was planned for {state['totalSteps']} steps; PEFTKit's run and this one share it only up to there", file=sys.stderr)
    for offset, loss in enumerate(losses):
        print(json.dumps({"step": start + offset + 1, "loss": loss}))
    if args.output:
        trained.save_pretrained(args.output)
    if args.check:
        logged = {}
        for line in open(args.check):
            entry = json.loads(line)
            if "loss" in entry and "step" in entry:
                logged[entry["step"]] = entry["loss"]
        worst = 0.0
        for offset, loss in enumerate(losses):
            step = start + offset + 1
            if step not in logged:
                raise SystemExit(f"{args.check} has no loss for step {step} (train with --logging-steps 1)")
            worst = max(worst, abs(loss - logged[step]))
        print(f"PyTorch continued {len(losses)} steps from PEFTKit's step {start}: largest loss difference {worst:.2e}", file=sys.stderr)
        if worst > 1e-4:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
