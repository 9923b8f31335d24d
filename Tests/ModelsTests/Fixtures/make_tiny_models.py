#!/usr/bin/env python3
"""Tiny random models saved by transformers, with reference outputs, for the parity tests.

    python Tests/ModelsTests/Fixtures/make_tiny_models.py

    python Tests/ModelsTests/Fixtures/make_tiny_models.py [/path/to/all-MiniLM-L6-v2]

Writes tiny-llama/ (GQA: 4 heads, 2 kv heads, untied head, 3 layers), tiny-gpt2/ and tiny-bert/ (a
BertForSequenceClassification with 3 labels) with config.json, model.safetensors and reference.json
(input ids, masks, hidden states, pooled output, logits), made with fixed seeds; with a MiniLM folder,
also minilm_reference.json (real-model hidden states for the opt-in test).
"""
import json
import os

import sys

import torch
from transformers import (AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification, GPT2Config, GPT2LMHeadModel,
                          LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification)

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


def tiny_bert():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=61, hidden_size=24, num_hidden_layers=2, num_attention_heads=4, intermediate_size=40,
                        max_position_embeddings=64, num_labels=3)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    ids = [int(i) for i in torch.randint(0, 61, (2, 12), generator=torch.Generator().manual_seed(2)).flatten()]
    mask = [1] * 12 + [1] * 8 + [0] * 4
    types = [0] * 6 + [1] * 6 + [0] * 12
    with torch.no_grad():
        out = model(torch.tensor(ids).view(2, 12), attention_mask=torch.tensor(mask).view(2, 12),
                    token_type_ids=torch.tensor(types).view(2, 12), output_hidden_states=True)
        pooled = model.bert.pooler(out.hidden_states[-1])
    save(model, "tiny-bert", ids, {"attention_mask": mask, "token_type_ids": types,
                                   "hidden": out.hidden_states[-1].flatten().tolist(), "pooled": pooled.flatten().tolist(),
                                   "logits": out.logits.flatten().tolist()})


def tiny_llama_classifier():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, num_labels=4, pad_token_id=0)
    model = LlamaForSequenceClassification(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    ids = [int(i) for i in torch.randint(1, 97, (2, 16), generator=torch.Generator().manual_seed(4)).flatten()]
    ids[16 + 11:] = [0] * 5  # right padding in the second row
    mask = [1 if i != 0 else 0 for i in ids]
    with torch.no_grad():
        logits = model(torch.tensor(ids).view(2, 16), attention_mask=torch.tensor(mask).view(2, 16)).logits
    save(model, "tiny-llama-classifier", ids, {"attention_mask": mask, "logits": logits.flatten().tolist()})


def tiny_gpt2():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=83, n_positions=64, n_embd=32, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    ids = [int(i) for i in torch.randint(0, 83, (2, 20), generator=torch.Generator().manual_seed(3)).flatten()]
    with torch.no_grad():
        logits = model(torch.tensor(ids).view(2, 20)).logits
        generated = model.generate(torch.tensor([ids[:20]]), max_new_tokens=10, do_sample=False,
                                   pad_token_id=0)[0][20:].tolist()
    save(model, "tiny-gpt2", ids, {"shape": list(logits.shape), "logits": logits.flatten().tolist(), "greedy": generated})


def minilm_reference(folder):
    """Last hidden states of the real all-MiniLM-L6-v2 for two padded sentences (opt-in test)."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    sentences = ["PEFTKit fine-tunes language models on ordinary CPUs.", "Hello world!"]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    json.dump({"sentences": sentences, "input_ids": batch["input_ids"].flatten().tolist(),
               "attention_mask": batch["attention_mask"].flatten().tolist(), "shape": list(hidden.shape),
               "hidden": hidden.flatten().tolist()}, open(os.path.join(HERE, "minilm_reference.json"), "w"))
    print("wrote minilm_reference.json")


if __name__ == "__main__":
    tiny_llama()
    tiny_bert()
    tiny_gpt2()
    tiny_llama_classifier()
    if len(sys.argv) > 1:
        minilm_reference(sys.argv[1])
