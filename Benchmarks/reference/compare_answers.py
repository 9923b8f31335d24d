#!/usr/bin/env python3
"""Runs a PEFT adapter with Python peft + transformers on exactly the prompts PEFTKit answered, and
compares the greedy answers.

    peftkit eval --model MODEL --adapter ADAPTER --data eval.jsonl --max-tokens 16 --answers answers.jsonl
    python Benchmarks/reference/compare_answers.py --model MODEL --adapter ADAPTER --answers answers.jsonl

MODEL is a Hugging Face folder or a .gguf file (transformers dequantizes it, as PEFTKit does).
answers.jsonl holds, per example, the prompt's token ids and PEFTKit's answer (`--answers`); each
prompt is decoded greedily for as many new tokens as --max-tokens, the answer is decoded without
special tokens and stripped, and the two answers must be equal. Prints the count of equal answers
and every difference; exit status 1 when any differs. Needs torch, transformers, peft (and gguf for
a .gguf model).
"""
import argparse
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def load(model_path):
    if model_path.endswith(".gguf"):
        folder, name = os.path.split(os.path.abspath(model_path))
        kwargs = {"gguf_file": name}
    else:
        folder, kwargs = model_path, {}
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32, **kwargs)
    return tokenizer, model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--answers", required=True)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer, base = load(args.model)
    model = PeftModel.from_pretrained(base, args.adapter).eval()
    records = [json.loads(line) for line in open(args.answers) if line.strip()]
    same = 0
    for record in records:
        ids = torch.tensor([record["prompt_ids"]])
        with torch.no_grad():
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_tokens,
                                    do_sample=False, pad_token_id=tokenizer.eos_token_id)
        answer = tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()
        if answer == record["answer"]:
            same += 1
        else:
            print(f"line {record['line']}: peft {answer!r}, PEFTKit {record['answer']!r} (reference {record['reference']!r})")
    print(f"{same} of {len(records)} greedy answers identical")
    sys.exit(0 if same == len(records) else 1)


if __name__ == "__main__":
    main()
