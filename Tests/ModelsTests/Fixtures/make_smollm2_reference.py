#!/usr/bin/env python3
"""Reference logits and greedy text for the opt-in SmolLM2 test, from transformers loading the GGUF.

    python Tests/ModelsTests/Fixtures/make_smollm2_reference.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf

Writes smollm2_reference.json: the prompt ids (a chat prompt of 200+ tokens), the last-position
logits at 512 fixed vocabulary indices plus the top 20, and the greedy answer to
"What is the capital of France?" (16 new tokens).
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
LONG_QUESTION = ("Explain, in a few careful paragraphs, how the water cycle works: evaporation from oceans, "
                 "lakes and rivers; transpiration from plants; condensation into clouds; precipitation as rain, "
                 "snow, sleet and hail; infiltration into soil and aquifers; runoff into streams; and the "
                 "role of the sun and gravity. Mention how human activity such as irrigation, dams, "
                 "deforestation and urban paving changes each stage, and give two concrete examples from "
                 "different continents. Finish with a short summary suitable for a curious twelve-year-old, "
                 "avoiding jargon where possible, and list three simple experiments that can be done at home "
                 "with a pot, a lid, ice cubes, a clear plastic bag, a sunny window and some patience. After that, "
                 "compare the water cycle on Earth with what is known about Mars and Titan, say which stage "
                 "scientists find hardest to measure and why, and end with one open question about climate.")


def main():
    path = sys.argv[1]
    folder, name = os.path.dirname(path), os.path.basename(path)
    torch.set_num_threads(2)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=torch.float32)
    model.eval()
    prompt_ids = tokenizer.apply_chat_template([{"role": "user", "content": LONG_QUESTION}], add_generation_prompt=True,
                                               tokenize=True, return_dict=False)
    if isinstance(prompt_ids, dict):
        prompt_ids = prompt_ids["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids])).logits[0, -1].numpy()
    rng = np.random.default_rng(0)
    indices = sorted(set(rng.choice(logits.shape[0], 512, replace=False).tolist()))
    top = np.argsort(-logits)[:20].tolist()
    question = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                             add_generation_prompt=True, tokenize=True, return_dict=False)
    if isinstance(question, dict):
        question = question["input_ids"]
    with torch.no_grad():
        generated = model.generate(torch.tensor([question]), max_new_tokens=16, do_sample=False)[0][len(question):].tolist()
    out = {
        "prompt_ids": prompt_ids,
        "indices": indices,
        "logits": [float(logits[i]) for i in indices],
        "top_ids": top,
        "top_logits": [float(logits[i]) for i in top],
        "question_ids": question,
        "greedy_ids": generated,
        "greedy_text": tokenizer.decode(generated, skip_special_tokens=True),
    }
    json.dump(out, open(os.path.join(HERE, "smollm2_reference.json"), "w"), indent=1)
    print(len(prompt_ids), "prompt tokens; greedy:", repr(out["greedy_text"]))


if __name__ == "__main__":
    main()
