#!/usr/bin/env python3
"""Hostile inputs for Scripts/replay-hostile.sh, made from the test fixtures (no network).

    python3 Benchmarks/HostileInputs/make_mutants.py OUT_DIR [--count N] [--seed S]

Writes N seeded mutants (default 300) of the kinds the fuzzing campaign of the hostile-input issue
used: byte flips and truncations of small GGUF files; GGUF metadata integers patched to 2^31…2^40;
tiny model folders whose config.json sizes are huge, negative, fractional or strings; tokenizer.json
files with hostile regular expressions, empty or huge vocabularies; folders whose chat template is a
hostile program (integer traps, deep nesting, runaway loops). Then:

    Scripts/replay-hostile.sh OUT_DIR
"""
import json, os, random, shutil, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIX = os.path.join(ROOT, "Tests")

def read(path): return open(os.path.join(FIX, path), "rb").read()

def main():
    out = sys.argv[1]
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 300
    rng = random.Random(int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0)
    os.makedirs(out, exist_ok=True)
    ggufs = [read("PEFTTests/Fixtures/tiny-llama.gguf"), read("TokenizersTests/Fixtures/llama-gguf/vocab.gguf"), read("ModelIOTests/Fixtures/quants.gguf")]
    tokenizers = [read(f"TokenizersTests/Fixtures/{n}/tokenizer.json") for n in ["wordpiece-cased", "llama3-style", "unigram", "metaspace-bpe", "llama2-style"]]
    config = json.loads(read("ModelsTests/Fixtures/tiny-llama/config.json"))
    templates = ["{{ 10 ** 400 }}", "{{ 1e300 * 1e300 | int }}", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
                 "{{ " + "(" * 50000 + "1" + ")" * 50000 + " }}", "{{ range(9223372036854775807) | length }}",
                 "{{ 'a' * 10000000000 }}", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                 "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}", "{% break %}", "{{ messages[0]['content'][1e20:] }}"]
    for index in range(count):
        kind = index % 5
        name = os.path.join(out, f"{index:04d}")
        if kind == 0:  # GGUF bytes flipped or truncated
            data = bytearray(rng.choice(ggufs))
            if rng.random() < 0.3:
                data = data[:rng.randrange(len(data))]
            for _ in range(rng.randrange(1, 8)):
                if data: data[rng.randrange(len(data))] = rng.randrange(256)
            open(name + ".gguf", "wb").write(data)
        elif kind == 1:  # GGUF metadata integer patched
            data = bytearray(ggufs[0])
            key = rng.choice([b"llama.embedding_length", b"llama.block_count", b"llama.feed_forward_length",
                              b"llama.attention.head_count", b"llama.attention.head_count_kv", b"llama.context_length", b"llama.vocab_size"])
            at = data.find(key)
            if at >= 0:
                struct.pack_into("<I", data, at + len(key) + 4, rng.choice([0, 3, 1 << 31, (1 << 32) - 1, rng.randrange(1 << 32)]))
            open(name + ".gguf", "wb").write(data)
        elif kind == 2:  # model folder with a hostile config.json
            os.makedirs(name)
            shutil.copy(os.path.join(FIX, "ModelsTests/Fixtures/tiny-llama/model.safetensors"), name)
            c = dict(config)
            field = rng.choice(["hidden_size", "intermediate_size", "vocab_size", "num_attention_heads", "num_key_value_heads",
                                "head_dim", "num_hidden_layers", "max_position_embeddings", "rope_theta", "rms_norm_eps"])
            c[field] = rng.choice([2 ** 31, 2 ** 40, 2 ** 62, -1, 0, 1.5, "32", None, [], 1e308])
            open(os.path.join(name, "config.json"), "w").write(json.dumps(c))
            shutil.copy(os.path.join(FIX, "TokenizersTests/Fixtures/wordpiece-cased/tokenizer.json"), name)
        elif kind == 3:  # tokenizer.json with hostile parts
            t = json.loads(rng.choice(tokenizers))
            choice = rng.randrange(4)
            if choice == 0:
                t["pre_tokenizer"] = {"type": "Split", "pattern": {"Regex": rng.choice(["(a+)+$", "(a|aa)+$", "(.*a){25}", "((a*)*)*b", "(\\s*)*$"])}, "behavior": "Isolated", "invert": False}
            elif choice == 1:
                t["normalizer"] = {"type": "Replace", "pattern": {"Regex": "(x+x+)+y"}, "content": "z"}
            elif choice == 2:
                t["model"] = {"type": "Unigram", "vocab": [["", 0.0]] * rng.randrange(1, 5), "unk_id": 0}
            else:
                text = json.dumps(t).encode()
                b = bytearray(text)
                for _ in range(rng.randrange(1, 6)): b[rng.randrange(len(b))] = rng.randrange(32, 127)
                open(name + ".json", "wb").write(b)
                continue
            open(name + ".json", "w").write(json.dumps(t))
        else:  # folder whose chat template is hostile
            os.makedirs(name)
            shutil.copy(os.path.join(FIX, "TokenizersTests/Fixtures/wordpiece-cased/tokenizer.json"), name)
            open(os.path.join(name, "chat_template.jinja"), "w").write(rng.choice(templates))
    print(f"wrote {count} hostile inputs to {out}")

if __name__ == "__main__":
    main()
