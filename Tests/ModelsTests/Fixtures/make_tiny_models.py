#!/usr/bin/env python3
"""Tiny random models saved by transformers, with reference outputs, for the parity tests.

    python Tests/ModelsTests/Fixtures/make_tiny_models.py

Writes tiny-llama/ (GQA: 4 heads, 2 kv heads, untied head, 3 layers) with config.json,
model.safetensors and reference.json (input ids, logits), made with a fixed seed.
"""
import json
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))


def save(model, name, ids, outputs):
    folder = os.path.join(HERE, name)
    model.save_pretrained(folder, safe_serialization=True)
    json.dump({"input_ids": ids, **outputs}, open(os.path.join(folder, "reference.json"), "w"))
    print("wrote", folder)


def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    ids = [int(i) for i in torch.randint(0, 97, (2, 40), generator=torch.Generator().manual_seed(1)).flatten()]
    with torch.no_grad():
        logits = model(torch.tensor(ids).view(2, 40)).logits
    save(model, "tiny-llama", ids, {"shape": list(logits.shape), "logits": logits.flatten().tolist()})


if __name__ == "__main__":
    tiny_llama()
