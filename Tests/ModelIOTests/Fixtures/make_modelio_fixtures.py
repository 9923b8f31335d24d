#!/usr/bin/env python3
"""Regenerates the ModelIO fixtures with the reference packages (`safetensors`, `torch`, `gguf`, `numpy`).

    python Tests/ModelIOTests/Fixtures/make_modelio_fixtures.py

Writes next to this script:
  small.safetensors   F32, F16, BF16, I64, BOOL, a rank-0 and a zero-size tensor, with __metadata__
  small.json          the same values as JSON numbers (F16/BF16 already rounded by torch)
  quants.gguf         one tensor per quantized type (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K),
                      random blocks with sane scales
  quants.json         `gguf.quants.dequantize` of each tensor, as float32 bit patterns (exact comparison)
"""
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
import gguf
from gguf import quants

HERE = os.path.dirname(os.path.abspath(__file__))


def safetensors_fixture():
    g = torch.Generator().manual_seed(0)
    tensors = {
        "weight.f32": torch.randn(3, 5, generator=g),
        "weight.f16": torch.randn(4, 2, generator=g).to(torch.float16),
        "weight.bf16": torch.randn(2, 3, generator=g).to(torch.bfloat16),
        "ids.i64": torch.tensor([[1, -2, 3], [40000000000, 5, -6]], dtype=torch.int64),
        "mask.bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    save_file(tensors, os.path.join(HERE, "small.safetensors"), metadata={"format": "pt", "note": "fixture"})
    values = {name: {"dtype": str(t.dtype), "shape": list(t.shape), "values": t.float().flatten().tolist()
                     if t.dtype != torch.int64 else t.flatten().tolist()} for name, t in tensors.items()}
    json.dump(values, open(os.path.join(HERE, "small.json"), "w"), indent=1)


def random_blocks(qtype, blocks, rng):
    """Random raw blocks; f16 scale fields get sane magnitudes so values stay finite."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    def set_half(block_offset, low, high):
        values = rng.uniform(low, high, size=blocks).astype(np.float16).view(np.uint8).reshape(blocks, 2)
        raw[:, block_offset:block_offset + 2] = values
    if qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q5_0):
        set_half(0, -0.05, 0.05)
    elif qtype in (gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q5_1):
        set_half(0, -0.05, 0.05); set_half(2, -1, 1)
    elif qtype == gguf.GGMLQuantizationType.Q4_K:
        set_half(0, 0, 0.01); set_half(2, 0, 0.01)
    elif qtype == gguf.GGMLQuantizationType.Q6_K:
        set_half(type_size - 2, -0.01, 0.01)
    return raw, block_size


def gguf_fixture():
    rng = np.random.default_rng(1)
    writer = gguf.GGUFWriter(os.path.join(HERE, "quants.gguf"), arch="llama")
    reference = {}
    types = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q6_K"]
    for name in types:
        qtype = gguf.GGMLQuantizationType[name]
        raw, block_size = random_blocks(qtype, 2 if block_size_of(qtype) == 256 else 4, rng)
        rows = 2
        columns = raw.shape[0] * block_size // rows
        data = raw.reshape(rows, -1)
        writer.add_tensor(f"t.{name}", data, raw_dtype=qtype)
        values = quants.dequantize(data, qtype).astype(np.float32).flatten()
        reference[f"t.{name}"] = {"type": name, "shape": [rows, columns], "bits": values.view(np.uint32).tolist()}
    half = rng.standard_normal((3, 32)).astype(np.float16)
    writer.add_tensor("t.F16", half)
    reference["t.F16"] = {"type": "F16", "shape": [3, 32], "bits": half.astype(np.float32).flatten().view(np.uint32).tolist()}
    bf = rng.standard_normal((2, 32)).astype(np.float32)
    bf_raw = (bf.view(np.uint32) >> 16).astype(np.uint16)
    writer.add_tensor("t.BF16", bf_raw.view(np.uint8).reshape(2, 64), raw_dtype=gguf.GGMLQuantizationType.BF16)
    reference["t.BF16"] = {"type": "BF16", "shape": [2, 32], "bits": (bf_raw.astype(np.uint32) << 16).flatten().tolist()}
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    json.dump(reference, open(os.path.join(HERE, "quants.json"), "w"))


def block_size_of(qtype):
    return gguf.GGML_QUANT_SIZES[qtype][0]


if __name__ == "__main__":
    safetensors_fixture()
    gguf_fixture()
    print("wrote fixtures to", HERE)
