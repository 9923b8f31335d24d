#!/usr/bin/env python3
"""Tiny random checkpoints of every decoder family, written by transformers, with reference outputs
and a PEFT LoRA adapter each, for DecoderFamilyParityTests.

    /path/to/venv/bin/python Tests/ModelsTests/Fixtures/make_decoder_families.py

Needs torch, transformers (≥ 5), peft and gguf. For each family writes families/<name>/ with
config.json + model.safetensors (save_pretrained), lora/ (adapter_config.json +
adapter_model.safetensors from peft, every weight randomised so the adapter changes the output) and
the training fixtures' tokenizer files (320 tokens) and reference.json:
  input_ids, attention_mask   two rows of 40 tokens, the second right-padded by 6
  logits                      the base model's logits on them (float32)
  greedy_prompt, greedy       12 greedy tokens after a 20-token prompt (model.generate)
  lora_logits                 the adapted model's logits on the same input
  train_losses                the losses of four AdamW steps (lr 1e-2, no weight decay) on the
                              next-token loss of the real positions, starting from lora/
  train_gradient_norm         the first step's gradient norm over the adapter weights
The sizes are chosen so that every family feature is exercised: windows of 8 (shorter than the
input), q width ≠ hidden size, partial rotary, logit soft-capping, fused projections.

Also writes families/{gemma3,qwen3,phi3,phi4mini}.gguf: those checkpoints as llama.cpp's converter stores
them (GGUF names, Phi-3's fused attn_qkv/ffn_up and LongRoPE factor tensors, 1 added to every Gemma norm
weight, F32); transformers
reads the Qwen3 one back to the folder's logits (it ignores Phi-3's rotary width and Gemma's layer
pattern in GGUF metadata, so those two are compared with the folders by the Swift tests).
"""
import json
import math
import os
import shutil

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Phi3Config, Phi3ForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "families")
# The byte-level BPE tokenizer (320 tokens, ChatML template) of the training fixtures, so the CLI can
# train, evaluate, generate and merge on every family.
TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "TrainingTests", "Fixtures", "tiny-chat-llama")
SHARED = dict(vocab_size=320, hidden_size=32, intermediate_size=48, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def families():
    yield "mistral", MistralForCausalLM(MistralConfig(**SHARED, num_hidden_layers=2, sliding_window=8, rope_theta=10000.0)), ["q_proj", "v_proj"]
    yield "qwen2", Qwen2ForCausalLM(Qwen2Config(**SHARED, num_hidden_layers=3, use_sliding_window=True, sliding_window=8,
                                                max_window_layers=1)), ["q_proj", "k_proj", "v_proj", "o_proj"]
    yield "qwen3", Qwen3ForCausalLM(Qwen3Config(**SHARED, num_hidden_layers=2, head_dim=128, rope_theta=1000000.0)), ["q_proj", "v_proj", "down_proj"]
    yield "gemma3", Gemma3ForCausalLM(Gemma3TextConfig(**SHARED, num_hidden_layers=6, head_dim=16, sliding_window=8,
                                                       query_pre_attn_scalar=12, final_logit_softcapping=5.0)), ["q_proj", "v_proj", "gate_proj"]
    yield "phi3", Phi3ForCausalLM(Phi3Config(**SHARED, num_hidden_layers=2, partial_rotary_factor=0.5, sliding_window=12)), ["qkv_proj", "gate_up_proj"]
    # Llama 3.2's rope scaling, with an original context short enough that the input reaches the smoothed band.
    yield "llama32", LlamaForCausalLM(LlamaConfig(**SHARED, num_hidden_layers=2, head_dim=16, rope_theta=500000.0, tie_word_embeddings=True,
                                                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                                "high_freq_factor": 4.0, "original_max_position_embeddings": 16})), ["q_proj", "v_proj"]
    # Phi-4-mini's shape: partial rotary 0.75 and LongRoPE with an original context of 32, so the 40-token input
    # uses the long factors and greedy decoding from a 20-token prompt switches from the short ones.
    generator = torch.Generator().manual_seed(4)
    short, long = (1 + 3 * torch.rand(3, generator=generator)).tolist(), (1 + 9 * torch.rand(3, generator=generator)).tolist()
    yield "phi4mini", Phi3ForCausalLM(Phi3Config(**SHARED, num_hidden_layers=2, partial_rotary_factor=0.75, original_max_position_embeddings=32,
                                                 rope_scaling={"rope_type": "longrope", "short_factor": short, "long_factor": long})), ["qkv_proj"]


def compact(values):
    """Eight significant digits: float32's precision for the tests' 1e-4 tolerance, half the text."""
    return [float("%.8g" % value) for value in values]


def randomise(model, generator, scale=0.2):
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)


def main():
    os.makedirs(HERE, exist_ok=True)
    for name, model, targets in families():
        folder = os.path.join(HERE, name)
        generator = torch.Generator().manual_seed(sum(map(ord, name)))
        randomise(model, generator)
        model.eval()
        ids = torch.randint(3, 320, (2, 40), generator=generator)
        mask = torch.ones(2, 40, dtype=torch.long)
        mask[1, 34:] = 0
        ids[1, 34:] = 0
        with torch.no_grad():
            logits = model(ids, attention_mask=mask).logits
            prompt = ids[:1, :20]
            greedy = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False,
                                    min_new_tokens=12, pad_token_id=0)[0, 20:]
        model.save_pretrained(folder, safe_serialization=True)
        reference = {"input_ids": ids.flatten().tolist(), "attention_mask": mask.flatten().tolist(), "shape": list(logits.shape),
                     "logits": compact(logits.flatten().tolist()), "greedy_prompt": prompt.flatten().tolist(), "greedy": greedy.tolist()}
        base_state = {key: value.clone() for key, value in model.state_dict().items()}
        peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0))
        with torch.no_grad():
            for pname, p in peft_model.named_parameters():
                if "lora_" in pname:
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
        peft_model.eval()
        with torch.no_grad():
            reference["lora_logits"] = compact(peft_model(ids, attention_mask=mask).logits.flatten().tolist())
        peft_model.save_pretrained(os.path.join(folder, "lora"))
        reference["train_losses"], reference["train_gradient_norm"] = train(peft_model, ids, mask)
        if name in ("gemma3", "qwen3", "phi3", "phi4mini"):
            write_gguf("phi3" if name == "phi4mini" else name, base_state, model.config, os.path.join(HERE, f"{name}.gguf"))
            if name == "qwen3":  # transformers ignores Phi-3's GGUF rotary width and Gemma's window pattern keys
                check_gguf_in_transformers(name, torch.tensor(reference["logits"]).view(logits.shape), ids, mask)
        json.dump(reference, open(os.path.join(folder, "reference.json"), "w"))
        for name_ in ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"]:
            shutil.copy(os.path.join(TOKENIZER, name_), folder)
        print("wrote", folder)


def train(peft_model, ids, mask, steps=4):
    """Four AdamW steps (lr 1e-2, no weight decay) of the next-token loss over the real positions:
    the losses before each step and the first step's gradient norm over the adapter weights."""
    peft_model.train()
    parameters = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-2, weight_decay=0.0)
    targets = ids.clone()
    targets[mask == 0] = -100
    losses, norm = [], None
    for step in range(steps):
        optimizer.zero_grad()
        logits = peft_model(ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets[:, 1:].reshape(-1))
        loss.backward()
        if norm is None:
            norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in parameters)))
        losses.append(float(loss))
        optimizer.step()
    peft_model.eval()
    return losses, norm


GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
              "self_attn.qkv_proj": "attn_qkv", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
              "input_layernorm": "attn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.gate_up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}
# Where a family's norms differ: Gemma's second norm follows attention, its third precedes the feed-forward.
GGUF_NORMS = {"gemma3": {"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                         "post_feedforward_layernorm": "post_ffw_norm"}}


def write_gguf(arch, state, config, path):
    """As llama.cpp's converter writes `arch`: GGUF names, [out, in] rows, F32; Gemma's norms + 1."""
    import gguf
    writer = gguf.GGUFWriter(path, arch)
    writer.add_vocab_size(config.vocab_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    rope = config.rope_parameters.get("full_attention", config.rope_parameters)
    writer.add_rope_freq_base(rope["rope_theta"])
    if getattr(config, "sliding_window", None) is not None and arch in ("gemma3", "phi3"):
        writer.add_sliding_window(config.sliding_window)
    if arch == "phi3":
        writer.add_rope_dimension_count(int(head_dim * config.partial_rotary_factor))
        if config.rope_parameters.get("rope_type") == "longrope":
            # llama.cpp's Phi-3 converter: the factor lists as tensors, the original context and attention factor as keys.
            original = config.rope_parameters["original_max_position_embeddings"]
            writer.add_rope_scaling_orig_ctx_len(original)
            writer.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(config.max_position_embeddings / original) / math.log(original)))
            writer.add_tensor("rope_factors_long.weight", np.array(config.rope_parameters["long_factor"], dtype=np.float32))
            writer.add_tensor("rope_factors_short.weight", np.array(config.rope_parameters["short_factor"], dtype=np.float32))
    names = {**GGUF_NAMES, "post_attention_layernorm": "ffn_norm", **GGUF_NORMS.get(arch, {})}
    for key, tensor in state.items():
        if key == "lm_head.weight" and config.tie_word_embeddings:
            continue
        if key in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
            gguf_name = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                         "lm_head.weight": "output.weight"}[key]
        else:
            parts = key.split(".")
            layer, module, kind = parts[2], ".".join(parts[3:-1]), parts[-1]
            gguf_name = f"blk.{layer}.{names[module]}.{kind}"
        data = tensor.detach().float().numpy().copy()
        if arch == "gemma3" and key.endswith("norm.weight"):
            data = data + 1
        writer.add_tensor(gguf_name, data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def check_gguf_in_transformers(name, logits, ids, mask):
    """transformers loads the written GGUF (its own reading of llama.cpp's conventions) to the same logits."""
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(HERE, gguf_file=f"{name}.gguf", dtype=torch.float32).eval()
    with torch.no_grad():
        again = model(ids, attention_mask=mask).logits
    worst = float((again - logits)[mask.bool()].abs().max())
    assert worst < 1e-4, f"{name}.gguf in transformers: max |Δ| = {worst}"
    print(f"{name}.gguf: transformers reads it to the folder's logits (max |Δ| {worst:.2e})")


if __name__ == "__main__":
    main()
