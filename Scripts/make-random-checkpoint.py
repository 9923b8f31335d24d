#!/usr/bin/env python3
"""A full-size Hugging Face checkpoint with random weights, in the shape of a published model.

    python Scripts/make-random-checkpoint.py --shape llama-3.2-1b --output DIR [--dtype bfloat16]

For measurements that need a model's size but not its knowledge (the memory of training a
1B-class base, `Benchmarks/TrainingMemory/check.sh`) when no package ships the weights. The
configuration is the published one (layers, widths, heads, vocabulary, RoPE); the weights are
transformers' own initialisation (normal, std = initializer_range) from `--seed`; the tokenizer
is SmolLM2's, taken from its GGUF (ids below 49,152 fit any of these vocabularies), with its chat
template. Needs torch and transformers (a virtualenv; never run by CI or the tests).
"""
import argparse
import os

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

SHAPES = {
    # meta-llama/Llama-3.2-1B's config.json: 1.24 B parameters, tied embeddings.
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
                         rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                         rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    # HuggingFaceTB/SmolLM2-360M's config.json: 362 M parameters.
    "smollm2-360m": dict(vocab_size=49152, hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                         num_attention_heads=15, num_key_value_heads=5, head_dim=64, max_position_embeddings=8192,
                         rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16",
                        help="the stored precision (bfloat16 halves the folder; PEFTKit widens it at load)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer-gguf", default=os.path.join(
        os.environ.get("PEFTKIT_MODELS", os.path.expanduser("~/.cache/peftkit/models")), "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    config = LlamaConfig(**SHAPES[args.shape], bos_token_id=1, eos_token_id=2, torch_dtype=args.dtype)
    model = LlamaForCausalLM(config).to(getattr(torch, args.dtype))
    count = sum(p.numel() for p in model.parameters())
    model.save_pretrained(args.output, safe_serialization=True)
    folder, name = os.path.split(os.path.abspath(args.tokenizer_gguf))
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(args.output)
    print(f"{args.shape}: {count / 1e9:.3f} B parameters ({args.dtype}) in {args.output}")


if __name__ == "__main__":
    main()
