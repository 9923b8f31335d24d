#!/usr/bin/env python3
"""Loads folders written by PEFTKit's merge with transformers and compares the logits.

    PEFTKIT_EXPORT_MERGED=/tmp/merged swift test --filter MergedFolderTests
    python Tests/PEFTTests/Fixtures/check_merged.py /tmp/merged            # tiny fixtures

Each sub-folder of DIR holds a merged model (config.json, model.safetensors, maybe tokenizer files)
and peftkit_logits.json (input_ids: two rows, logits: PEFTKit's logits of the merged model). The
folder is loaded with AutoModelForCausalLM.from_pretrained, run on the same ids, and the largest
absolute logit difference is printed; when the folder has a tokenizer.json, AutoTokenizer must load
it too. Exit status 1 when a difference exceeds 1e-4. Needs torch and transformers.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def check(folder):
    info = json.load(open(os.path.join(folder, "peftkit_logits.json")))
    ids = torch.tensor(info["input_ids"]).reshape(2, -1)
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(ids).logits.reshape(-1)
    worst = (logits - torch.tensor(info["logits"])).abs().max().item()
    tokenizer = "no tokenizer files"
    if os.path.exists(os.path.join(folder, "tokenizer.json")):
        loaded = AutoTokenizer.from_pretrained(folder)
        tokenizer = f"tokenizer {type(loaded).__name__}, {len(loaded)} tokens"
    print(f"{os.path.basename(folder)}: max |Δlogit| = {worst:.3g} ({tokenizer})")
    return worst


def main():
    root = sys.argv[1]
    worst = max(check(os.path.join(root, name)) for name in sorted(os.listdir(root))
                if os.path.exists(os.path.join(root, name, "peftkit_logits.json")))
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
