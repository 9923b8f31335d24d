#!/usr/bin/env python3
"""A Python-made LoRA adapter for the real SmolLM2-135M-Instruct and the greedy answer peft gives with it.

    python Tests/PEFTTests/Fixtures/make_smollm2_adapter.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf

transformers loads the GGUF (dequantized, q/k rows un-permuted). Writes smollm2-lora/ (LoRA r=2,
alpha=4 on q_proj, k_proj and v_proj — q and k test the row order — with small random weights so the
answer changes but stays fluent) and smollm2-lora/reference.json: the question's ids, the greedy
continuation (24 tokens) with the adapter, its text (and the base model's, which differs), and PEFT's trainable-parameter count for the
README configuration (r=8, alpha=32 on q_proj, v_proj).
"""
import json
import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
QUESTION = "Describe the sea in one sentence."


def main():
    path = sys.argv[1]
    folder, name = os.path.dirname(path), os.path.basename(path)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)

    def load():
        return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32).eval()

    counted = get_peft_model(load(), LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"]))
    trainable, total = counted.get_nb_trainable_parameters()

    torch.manual_seed(0)
    model = get_peft_model(load(), LoraConfig(task_type="CAUSAL_LM", r=2, lora_alpha=4, target_modules=["q_proj", "k_proj", "v_proj"]))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "lora_B" in parameter_name:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    model.eval()
    question = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}],
                                             add_generation_prompt=True, tokenize=True, return_dict=False)
    if isinstance(question, dict):
        question = question["input_ids"]
    with torch.no_grad(), model.disable_adapter():
        base = model.generate(input_ids=torch.tensor([question]), max_new_tokens=24, do_sample=False)[0][len(question):].tolist()
    with torch.no_grad():
        generated = model.generate(input_ids=torch.tensor([question]), max_new_tokens=24, do_sample=False)[0][len(question):].tolist()
    target = os.path.join(HERE, "smollm2-lora")
    model.peft_config["default"].base_model_name_or_path = "SmolLM2-135M-Instruct"
    model.save_pretrained(target)
    out = {"question_ids": question, "greedy_ids": generated,
           "greedy_text": tokenizer.decode(generated, skip_special_tokens=True),
           "base_greedy_text": tokenizer.decode(base, skip_special_tokens=True),
           "readme_config_trainable": trainable, "readme_config_total": total}
    json.dump(out, open(os.path.join(target, "reference.json"), "w"), indent=1)
    print(trainable, total, repr(out["base_greedy_text"]), "→", repr(out["greedy_text"]))


if __name__ == "__main__":
    main()
