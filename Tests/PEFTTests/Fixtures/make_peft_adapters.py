#!/usr/bin/env python3
"""Adapters written by Hugging Face PEFT on the tiny fixture models, with the logits they produce.

    python Tests/PEFTTests/Fixtures/make_peft_adapters.py [CASE …]   # write the fixtures (all, or the named cases)
    python Tests/PEFTTests/Fixtures/make_peft_adapters.py --check DIR  # the reverse direction

Needs a virtualenv with torch, transformers and peft. The base models are the tiny fixtures of
Tests/ModelsTests/Fixtures (made by make_tiny_models.py). PEFT initialises LoRA's B (and IA3's
vectors) so that the adapted model equals the base; every adapter weight is randomised here with a
fixed seed so that the fixtures test real arithmetic.

Write mode: for each case, <case>/adapter_config.json + adapter_model.safetensors (as
`save_pretrained` writes them) and <case>/reference.json with the input ids and the logits of the
adapted model.

Write mode also converts tiny-llama to tiny-llama.gguf (F32, q/k rows permuted as llama.cpp's
converter does), so the tests can apply the same adapters to a GGUF-loaded base.

Check mode (the reverse direction): DIR holds adapters that PEFTKit saved (one folder per case, with
a `peftkit_logits.json` next to the adapter: base model name, input ids and PEFTKit's logits, written
by the opt-in test `PEFTKIT_EXPORT_ADAPTERS=DIR swift test --filter PEFTInterop`). Each is loaded
with `PeftModel.from_pretrained` and the maximum absolute logit difference is printed.
"""
import json
import os
import sys
import zlib

import torch
from peft import (AdaLoraConfig, IA3Config, LoHaConfig, LoKrConfig, LoraConfig, PeftModel, PromptTuningConfig, TaskType, VeraConfig,
                  get_peft_model)
from transformers import AutoModelForCausalLM, BertForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "..", "ModelsTests", "Fixtures")


def base(name):
    path = os.path.join(MODELS, name)
    if name == "tiny-bert":
        return BertForSequenceClassification.from_pretrained(path).eval()
    return AutoModelForCausalLM.from_pretrained(path).eval()


def reference_inputs(name):
    ref = json.load(open(os.path.join(MODELS, name, "reference.json")))
    ids = ref["input_ids"]
    rows = 2
    kwargs = {}
    if "attention_mask" in ref:
        kwargs["attention_mask"] = torch.tensor(ref["attention_mask"]).view(rows, -1)
    if "token_type_ids" in ref:
        kwargs["token_type_ids"] = torch.tensor(ref["token_type_ids"]).view(rows, -1)
    return ids, torch.tensor(ids).view(rows, -1), kwargs


def randomise(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            if "ia3_l" in name or "lora_magnitude_vector" in name:
                parameter.copy_(parameter + 0.3 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))


def prune(model, seed):
    """An allocation as AdaLoRA's RankAllocator leaves it: some triplets of each layer zeroed and
    listed in rank_pattern (one layer keeps none, one keeps all)."""
    generator = torch.Generator().manual_seed(seed)
    pattern = {}
    with torch.no_grad():
        names = [n for n, _ in model.base_model.model.named_parameters() if "lora_E.default" in n]
        for index, (name, parameter) in enumerate((n, p) for n, p in model.base_model.model.named_parameters() if "lora_E.default" in n):
            keep = torch.rand(parameter.shape[0], generator=generator) > 0.5
            if index == 0:
                keep[:] = True
            if index == len(names) - 1:
                keep[:] = False
            parameter.masked_fill_(~keep.view(-1, 1), 0.0)
            pattern[name] = keep.tolist()
    model.peft_config["default"].rank_pattern = pattern


CASES = {
    # q/k/v/o with rank and alpha patterns (q_proj and k_proj exercise the GGUF row order).
    "llama-lora": ("tiny-llama", lambda: LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, lora_dropout=0.1,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        rank_pattern={"o_proj": 2}, alpha_pattern={"v_proj": 16})),
    # LoRA on the token embedding (lora_embedding_A/B) next to a linear layer.
    "llama-lora-embedding": ("tiny-llama", lambda: LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=3, lora_alpha=6, target_modules=["embed_tokens", "q_proj"])),
    # rsLoRA on every linear layer of two of the three blocks.
    "llama-rslora": ("tiny-llama", lambda: LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=8, lora_alpha=16, use_rslora=True,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        layers_to_transform=[0, 2])),
    # DoRA, with a regex target.
    "llama-dora": ("tiny-llama", lambda: LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, use_dora=True,
        target_modules=r".*\.(q_proj|v_proj|down_proj)")),
    "llama-ia3": ("tiny-llama", lambda: IA3Config(
        task_type=TaskType.CAUSAL_LM, target_modules=["k_proj", "v_proj", "down_proj"], feedforward_modules=["down_proj"])),
    "llama-prompt": ("tiny-llama", lambda: PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5)),
    # IA3 with PEFT's own defaults (targets and feed-forward modules filled from its tables).
    "gpt2-ia3": ("tiny-gpt2", lambda: IA3Config(task_type=TaskType.CAUSAL_LM)),
    "bert-ia3": ("tiny-bert", lambda: IA3Config(task_type=TaskType.SEQ_CLS, modules_to_save=["classifier"])),
    # GPT-2's Conv1D (fan_in_fan_out).
    "gpt2-lora": ("tiny-gpt2", lambda: LoraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True)),
    # LoHa on attention (grouped k/v: other shapes) and the MLP's down projection, with patterns.
    "llama-loha": ("tiny-llama", lambda: LoHaConfig(
        task_type=TaskType.CAUSAL_LM, r=4, alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
        rank_pattern={"o_proj": 2}, alpha_pattern={"v_proj": 16})),
    # LoHa on a BERT classifier with its head trained in full.
    "bert-loha": ("tiny-bert", lambda: LoHaConfig(
        task_type=TaskType.SEQ_CLS, r=3, alpha=6, target_modules=["query", "value", "dense"], layers_to_transform=[1],
        modules_to_save=["classifier"])),
    # LoKr with whole factors (r = 4 is at least half of every second factor's side), with patterns.
    "llama-lokr": ("tiny-llama", lambda: LoKrConfig(
        task_type=TaskType.CAUSAL_LM, r=4, alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"],
        rank_pattern={"o_proj": 2}, alpha_pattern={"v_proj": 16})),
    # LoKr with both factors as rank-1 products and a fixed split factor, on every linear layer.
    "llama-lokr-factored": ("tiny-llama", lambda: LoKrConfig(
        task_type=TaskType.CAUSAL_LM, r=1, alpha=3, decompose_both=True, decompose_factor=4, init_weights="lycoris",
        target_modules="all-linear")),
    # VeRA with its projections in the file, on layers of three shapes (A and B sized for the largest).
    "llama-vera": ("tiny-llama", lambda: VeraConfig(
        task_type=TaskType.CAUSAL_LM, r=8, target_modules=["q_proj", "v_proj", "down_proj"])),
    # VeRA without its projections: a loader must draw them again from projection_prng_key as PyTorch does.
    "llama-vera-unsaved": ("tiny-llama", lambda: VeraConfig(
        task_type=TaskType.CAUSAL_LM, r=6, projection_prng_key=1234, save_projection=False, target_modules=["k_proj", "o_proj", "up_proj"])),
    # VeRA on GPT-2's Conv1D (fan_in_fan_out) with the adapted layers' biases trained.
    "gpt2-vera": ("tiny-gpt2", lambda: VeraConfig(
        task_type=TaskType.CAUSAL_LM, r=4, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True, bias="vera_only")),
    # AdaLoRA after an allocation: rank_pattern keeps some triplets per layer (pruned ones zeroed, as the
    # allocator leaves them); the file holds only the kept ranks, the scale divides by init_r.
    "llama-adalora": ("tiny-llama", lambda: AdaLoraConfig(
        task_type=TaskType.CAUSAL_LM, init_r=5, target_r=2, total_step=20, lora_alpha=6,
        target_modules=["q_proj", "v_proj", "down_proj"])),
    # AdaLoRA on GPT-2's Conv1D before any allocation (full init_r, fan_in_fan_out).
    "gpt2-adalora": ("tiny-gpt2", lambda: AdaLoraConfig(
        task_type=TaskType.CAUSAL_LM, init_r=3, target_r=2, total_step=10, lora_alpha=4, target_modules=["c_attn", "c_proj"],
        fan_in_fan_out=True)),
    # BERT classifier with a trained head (modules_to_save) and trainable biases.
    "bert-lora": ("tiny-bert", lambda: LoraConfig(
        task_type=TaskType.SEQ_CLS, r=4, lora_alpha=4, target_modules=["query", "value"], bias="lora_only",
        modules_to_save=["classifier"])),
}


def logits_of(model, name, tensor, kwargs):
    with torch.no_grad():
        out = model(input_ids=tensor, **kwargs).logits
    return out


def write(only):
    for case, (model_name, make_config) in sorted(CASES.items()):
        if only and case not in only:
            continue
        seed = zlib.crc32(case.encode())  # per case, so adding a case changes no other
        torch.manual_seed(seed)
        model = get_peft_model(base(model_name), make_config())
        randomise(model, seed + 1)
        if case == "llama-adalora":
            prune(model, seed + 2)
        model.eval()
        ids, tensor, kwargs = reference_inputs(model_name)
        logits = logits_of(model, model_name, tensor, kwargs)
        folder = os.path.join(HERE, case)
        model.peft_config["default"].base_model_name_or_path = model_name  # not this machine's path
        model.save_pretrained(folder)
        json.dump({"base": model_name, "input_ids": ids, "shape": list(logits.shape),
                   "logits": [round(v, 7) for v in logits.flatten().tolist()]}, open(os.path.join(folder, "reference.json"), "w"))
        print("wrote", folder, list(logits.shape))


def write_gguf():
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    folder = os.path.join(MODELS, "tiny-llama")
    config = json.load(open(os.path.join(folder, "config.json")))
    weights = load_file(os.path.join(folder, "model.safetensors"))
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]

    def permute(w, n_head):  # HF split-half rows → GGUF interleaved rows
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
    parts = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    writer = gguf.GGUFWriter(os.path.join(HERE, "tiny-llama.gguf"), "llama")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(config["rope_theta"] if "rope_theta" in config else config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    for name, tensor in weights.items():
        tensor = tensor.astype(np.float32)
        if name in names:
            target = names[name]
        else:
            _, _, layer, *rest = name.split(".")
            target = f"blk.{layer}.{parts['.'.join(rest[:-1])]}.{rest[-1]}"
        if name.endswith("q_proj.weight"):
            tensor = permute(tensor, heads)
        if name.endswith("k_proj.weight"):
            tensor = permute(tensor, kv_heads)
        writer.add_tensor(target, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print("wrote tiny-llama.gguf")


def check(directory):
    worst = 0.0
    for case in sorted(os.listdir(directory)):
        folder = os.path.join(directory, case)
        info_path = os.path.join(folder, "peftkit_logits.json")
        if not os.path.exists(info_path):
            continue
        info = json.load(open(info_path))
        model = PeftModel.from_pretrained(base(info["base"]), folder).eval()
        _, tensor, kwargs = reference_inputs(info["base"])
        logits = logits_of(model, info["base"], tensor, kwargs)
        expected = torch.tensor(info["logits"]).view(logits.shape)
        difference = (logits - expected).abs().max().item()
        worst = max(worst, difference)
        print(f"{case}: max |PEFT - PEFTKit| = {difference:.3g}")
    print(f"worst {worst:.3g}")
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write(sys.argv[1:])
        write_gguf()
