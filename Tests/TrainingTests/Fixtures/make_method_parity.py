#!/usr/bin/env python3
"""Training parity of each PEFT method beyond LoRA: four AdamW steps of PyTorch + peft.

    /path/to/venv/bin/python Tests/TrainingTests/Fixtures/make_method_parity.py [METHOD …]

Needs torch, transformers and peft, and the fixtures of make_training_fixtures.py (tiny-chat-llama,
arithmetic.jsonl). For each method, writes methods/<method>/ next to this script:

- initial/: the adapter as peft saved it before training, every tensor randomised with a fixed seed
  (so that every one gets a gradient: LoHa's zero W2b would leave W1a and W1b without one);
- final/: the adapter after four steps of the reference loop (Benchmarks/reference/peftkit_reference.py:
  batch 3, accumulation 2, warm-up 1, linear decay, clipping 1.0, weight decay 0.01, learning rate 1e-2);
- expected.json: the settings and the four step losses.
"""
import json
import os
import sys
import zlib

import torch
from peft import AdaLoraConfig, LoHaConfig, LoKrConfig, VeraConfig, get_peft_model
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "Benchmarks", "reference"))
import peftkit_reference as reference  # noqa: E402

METHODS = {
    "loha": lambda: LoHaConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]),
    # Whole W1, W2 as a rank-2 product.
    "lokr": lambda: LoKrConfig(r=2, alpha=4, decompose_both=True, target_modules=["q_proj", "v_proj", "down_proj"]),
    # The projections are drawn from the seed (not saved): the loader must draw PEFT's.
    "vera": lambda: VeraConfig(r=8, projection_prng_key=5, save_projection=False, target_modules=["q_proj", "v_proj", "down_proj"]),
    # Four steps over the whole budget schedule: reallocations at steps 1 and 2, the final one at 3.
    "adalora": lambda: AdaLoraConfig(init_r=4, target_r=2, total_step=4, tinit=0, tfinal=1, deltaT=1, lora_alpha=8,
                                     target_modules=["q_proj", "v_proj", "down_proj"]),
}


def adalora_penalty(model):
    """The orthogonality term AdaLoraModel.forward adds to the loss (once per step in PEFTKit)."""
    config = model.peft_config["default"]
    terms = []
    for name, parameter in model.named_parameters():
        if ("lora_A" in name or "lora_B" in name) and "default" in name:
            gram = parameter @ parameter.T if "lora_A" in name else parameter.T @ parameter
            terms.append(torch.norm(gram - torch.eye(*gram.size()), p="fro"))
    return config.orth_reg_weight * sum(terms) / len(terms)


def main(only):
    folder = os.path.join(HERE, "tiny-chat-llama")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    rows = [json.loads(line) for line in open(os.path.join(HERE, "arithmetic.jsonl"))]
    examples = []
    for row in rows[:10]:
        ids, labels, _ = reference.tokenize(reference.to_record(row), tokenizer, 64)
        examples.append((ids, labels))
    settings = dict(batch_size=3, accumulation=2, steps=4, learning_rate=1e-2, weight_decay=0.01, warmup=1,
                    shape="linear", max_grad_norm=1.0, seed=5)
    for method, make in sorted(METHODS.items()):
        if only and method not in only:
            continue
        seed = zlib.crc32(method.encode())
        torch.manual_seed(seed)
        model = get_peft_model(LlamaForCausalLM.from_pretrained(folder).float(), make())
        generator = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for _, parameter in model.named_parameters():
                if parameter.requires_grad:
                    parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
        target = os.path.join(HERE, "methods", method)
        model.peft_config["default"].base_model_name_or_path = "tiny-chat-llama"
        model.save_pretrained(os.path.join(target, "initial"))
        hooks = {}
        if method == "adalora":
            hooks = dict(regularizer=lambda: adalora_penalty(model), after_update=model.base_model.update_and_allocate)
        losses = reference.train(model, examples, torch=torch, **settings, **hooks)
        model.save_pretrained(os.path.join(target, "final"))
        with open(os.path.join(target, "expected.json"), "w") as handle:
            json.dump({"settings": settings, "records": len(examples), "losses": losses}, handle, indent=1)
        print(method, "losses", losses)


if __name__ == "__main__":
    main(sys.argv[1:])
