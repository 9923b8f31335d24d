#!/usr/bin/env python3
"""Fixtures of the training tests: a tiny chat model and the losses PyTorch + peft train it to.

    /path/to/venv/bin/python Tests/TrainingTests/Fixtures/make_training_fixtures.py

Needs torch, transformers, peft and tokenizers. Writes, next to this script:

- tiny-chat-llama/: a 2-layer Llama (hidden 32) with a byte-level BPE tokenizer of 320 tokens
  trained here on the task's text, ChatML special tokens and a ChatML chat template.
- arithmetic.jsonl: 40 prompt/response records ("What is 3 plus 4?" → "7"), the format of the guide.
- parity/: a LoRA adapter (r=4, α=8, q_proj+v_proj, B randomised so every tensor trains) saved by
  peft before training (initial/), the step losses and adapter after 4 AdamW steps of the
  reference loop (Benchmarks/reference/peftkit_reference.py: batch 3, accumulation 2, warm-up 1,
  linear decay, clipping 1.0, weight decay 0.01), in expected.json and final/.
"""
import json
import os
import random
import sys

import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "Benchmarks", "reference"))
import peftkit_reference as reference  # noqa: E402

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def records():
    generator = random.Random(7)
    rows = []
    for _ in range(40):
        a, b = generator.randint(0, 9), generator.randint(0, 9)
        rows.append({"prompt": f"What is {a} plus {b}?", "response": str(a + b)})
    return rows


def make_tokenizer(folder, texts):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=317, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token="<|endoftext|>")
    fast.chat_template = CHATML
    fast.save_pretrained(folder)
    return fast


def main():
    data = records()
    with open(os.path.join(HERE, "arithmetic.jsonl"), "w") as handle:
        for row in data:
            handle.write(json.dumps(row) + "\n")
    folder = os.path.join(HERE, "tiny-chat-llama")
    os.makedirs(folder, exist_ok=True)
    texts = [f"user\n{r['prompt']}\nassistant\n{r['response']}\n" for r in data] * 4
    tokenizer = make_tokenizer(folder, texts)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                         rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)

    # Parity: the reference loop from a saved initial adapter.
    base = LlamaForCausalLM.from_pretrained(folder).float()
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    parity = os.path.join(HERE, "parity")
    peft_model.save_pretrained(os.path.join(parity, "initial"))
    examples = []
    for row in data[:10]:
        ids, labels, _ = reference.tokenize(reference.to_record(row), tokenizer, 64)
        examples.append((ids, labels))
    settings = dict(batch_size=3, accumulation=2, steps=4, learning_rate=1e-2, weight_decay=0.01, warmup=1,
                    shape="linear", max_grad_norm=1.0, seed=5)
    losses = reference.train(peft_model, examples, torch=torch, **settings)
    peft_model.save_pretrained(os.path.join(parity, "final"))
    with open(os.path.join(parity, "expected.json"), "w") as handle:
        json.dump({"settings": settings, "records": 10, "losses": losses,
                   "examples": [{"ids": ids, "labels": labels} for ids, labels in examples]}, handle, indent=1)
    print("losses", losses)


if __name__ == "__main__":
    main()
