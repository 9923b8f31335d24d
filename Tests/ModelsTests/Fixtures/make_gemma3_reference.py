#!/usr/bin/env python3
"""Reference outputs of the real Gemma 3 270M GGUF (Scripts/fetch-models.sh gemma3), from transformers
loading the same file (`gguf_file=`: it dequantizes the Q4_K/Q6_K blocks and subtracts the 1 that
llama.cpp's converter added to the norms), for the opt-in Gemma3RealModelTests.

    /path/to/venv/bin/python Tests/ModelsTests/Fixtures/make_gemma3_reference.py [MODELS_DIR]

Writes gemma3_270m_reference.json: token ids of a multilingual corpus (with the BOS transformers adds),
the 20 largest last-position logits after a prompt (ids and values), and 16 greedy tokens.
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODELS = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/peftkit/models")
FILE = "gemma-3-270m-q4_k_m.gguf"
CORPUS = ["Hello world", " leading space", "Two  spaces and   three", "Ünïcödé façade naïve café", "日本語のテキストです。",
          "Привет, мир!", "مرحبا بالعالم", "emoji 😀🎉 and tabs\tnew\nlines", "def f(x):\n    return x**2  # comment", "   ", "",
          "हिन्दी भाषा", "ﬁ ligature and ½ fraction", "<start_of_turn>user\nHi<end_of_turn>\n", "Ελληνικά και 한국어 텍스트",
          "The quick brown fox jumps over the lazy dog. 1234567890", "\n\n\n", "a\u00a0b\u200bc", "zzzzzzzzzzzzzzzzzzzzzzzz"]

tokenizer = AutoTokenizer.from_pretrained(MODELS, gguf_file=FILE)
model = AutoModelForCausalLM.from_pretrained(MODELS, gguf_file=FILE, dtype=torch.float32).eval()
prompt = tokenizer("The capital of France is")["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([prompt])).logits[0, -1]
    greedy = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False)[0, len(prompt):].tolist()
top = torch.topk(logits, 20)
reference = {"corpus": CORPUS, "ids": [tokenizer(text)["input_ids"] for text in CORPUS],
             "decoded": [tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) for text in CORPUS],
             "prompt": prompt, "top_ids": top.indices.tolist(), "top_logits": top.values.tolist(),
             "greedy": greedy, "greedy_text": tokenizer.decode(greedy)}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gemma3_270m_reference.json")
json.dump(reference, open(out, "w"), ensure_ascii=False, indent=1)
print("wrote", out, reference["greedy_text"])
