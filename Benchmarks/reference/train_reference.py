#!/usr/bin/env python3
"""`peftkit train`, done by PyTorch + transformers + peft: the side-by-side reference.

    python Benchmarks/reference/train_reference.py --model PATH --train FILE [--eval FILE] --output DIR [options]

Run by hand in a virtualenv with torch, transformers and peft (CI never runs it). It takes the
flags of `peftkit train` that decide the computation and performs the same training: the same
data file, chat formatting, prompt masking, example order and batches, loss normalisation,
clipping, schedule and AdamW settings (see peftkit_reference.py for what is mirrored from the Swift
sources). Only dropout masks differ (PyTorch draws its own). It prints the same one-line JSON
summary as `peftkit train` (train_runtime, train_samples_per_second, train_steps_per_second,
train_loss, peak_rss_mb, trainable_parameters, and with --eval the eval_loss, eval_perplexity and
eval_exact_match), so speed, memory and quality are compared in one run on one machine.

PATH is a Hugging Face folder or a .gguf file (transformers dequantizes GGUF to float32).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peftkit_reference as reference  # noqa: E402


def load(path):
    if path.endswith(".gguf"):
        folder, name = os.path.split(os.path.abspath(path))
        return (AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32),
                AutoTokenizer.from_pretrained(folder, gguf_file=name))
    return AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def dataset(path, tokenizer, max_length):
    examples = []
    for record in reference.read_records(path):
        ids, labels, _ = reference.tokenize(record, tokenizer, max_length)
        if reference.target_count(labels) > 0:
            answer = record[2] if record[0] == "instruction" else None
            prompt_length = labels.index(next(label for label in labels if label != reference.IGNORE)) if answer else len(ids)
            examples.append((ids, labels, prompt_length, answer))
    return examples


@torch.no_grad()
def evaluate(model, tokenizer, examples, batch_size, max_new_tokens, autocast=None):
    model.eval()
    loss_sum, targets = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = [(ids, labels) for ids, labels, _, _ in examples[start:start + batch_size]]
        input_ids, mask, labels = reference.collate(batch, torch)
        loss_sum += reference.micro_batch_loss_sum(model, input_ids, mask, labels, torch, autocast).item()
        targets += sum(reference.target_count(labels) for _, labels in batch)
    metrics = {"eval_loss": loss_sum / targets, "eval_perplexity": math.exp(loss_sum / targets)}
    stops = [tokenizer.eos_token_id] + [tokenizer.convert_tokens_to_ids(t) for t in ["<|im_end|>", "<|eot_id|>"] if t in tokenizer.get_vocab()]
    hits, counted = 0, 0
    if max_new_tokens > 0:
        for ids, _, prompt_length, answer in examples:
            if answer is None:
                continue
            output = model.generate(torch.tensor([ids[:prompt_length]]), max_new_tokens=max_new_tokens, do_sample=False,
                                    eos_token_id=stops, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            text = tokenizer.decode(output[0, prompt_length:], skip_special_tokens=True)
            hits += text.strip() == answer.strip()
            counted += 1
        metrics["eval_exact_match"] = hits / counted if counted else float("nan")
    model.train()
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--eval")
    parser.add_argument("--output", required=True)
    parser.add_argument("--save-initial", help="also save the freshly initialised adapter here, before training "
                        "(peftkit train --init-adapter starts from it, so both runs share one initialisation)")
    parser.add_argument("--method", default="lora", choices=["lora", "dora", "rslora"])
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--dropout", type=float, default=0.05)
    parser.add_argument("--targets", default="q_proj,v_proj")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--gradient-accumulation", type=int, default=1)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--warmup-steps", type=int, default=0)
    parser.add_argument("--schedule", default="linear", choices=["constant", "linear", "cosine"])
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logging-steps", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--autocast", choices=["bfloat16", "float16"],
                        help="forward passes under torch.autocast in this precision (HF Trainer's bf16=True/fp16=True on a CPU); "
                             "the fair partner of peftkit's --matmul-precision")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, tokenizer = load(args.model)
    train = dataset(args.train, tokenizer, args.max_length)
    evaluation = dataset(args.eval, tokenizer, args.max_length) if args.eval else None
    targets = "all-linear" if args.targets == "all-linear" else args.targets.split(",")
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.dropout, target_modules=targets,
                        use_rslora=args.method == "rslora", use_dora=args.method == "dora", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    if args.save_initial:
        model.save_pretrained(args.save_initial)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    batches_per_epoch = math.ceil(len(train) / args.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation)
    steps = args.max_steps or max(1, math.ceil(args.epochs * steps_per_epoch))
    pairs = [(ids, labels) for ids, labels, _, _ in train]
    logged = []

    def on_step(step, loss, epoch):
        logged.append(loss)
        if step % args.logging_steps == 0 or step == steps:
            window = logged[-(step % args.logging_steps or args.logging_steps):]
            print(json.dumps({"step": step, "epoch": round(epoch, 4), "loss": sum(window) / len(window)}), file=sys.stderr, flush=True)

    start = time.time()
    losses = reference.train(model, pairs, torch=torch, batch_size=args.batch_size, accumulation=args.gradient_accumulation,
                             steps=steps, learning_rate=args.learning_rate, weight_decay=args.weight_decay, warmup=args.warmup_steps,
                             shape=args.schedule, max_grad_norm=args.max_grad_norm or None, seed=args.seed, on_step=on_step,
                             autocast=args.autocast)
    runtime = time.time() - start
    epoch, cursor = 0, 0
    lengths = [len(ids) for ids, _ in pairs]
    batches = reference.epoch_batches(lengths, args.batch_size, epoch, args.seed)
    samples = 0
    for _ in range(steps):
        if cursor >= len(batches):
            epoch, cursor = epoch + 1, 0
            batches = reference.epoch_batches(lengths, args.batch_size, epoch, args.seed)
        part = batches[cursor:cursor + args.gradient_accumulation]
        cursor += len(part)
        samples += sum(len(b) for b in part)
    model.save_pretrained(args.output)
    # Only optimizer steps are timed here, so step_runtime is train_runtime (PEFTKit's train_runtime also
    # holds its end-of-run evaluation and saving; its step_runtime does not).
    summary = {"train_runtime": runtime, "train_samples_per_second": samples / runtime, "train_steps_per_second": steps / runtime,
               "step_runtime": runtime, "step_samples_per_second": samples / runtime,
               "train_loss": sum(losses) / len(losses), "global_step": steps, "trainable_parameters": trainable}
    if evaluation:
        summary.update(evaluate(model, tokenizer, evaluation, args.batch_size, args.max_new_tokens, args.autocast))
    summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
