#!/usr/bin/env python3
"""Regenerates the tokenizer parity fixtures from the reference stack (Hugging Face `tokenizers`).

Run from the repository root inside a virtualenv with `tokenizers`, `transformers`, `torch` and `gguf`:

    python Tests/TokenizersTests/Fixtures/make_tokenizer_fixtures.py \
        --smollm2-gguf ~/.cache/peftkit/models/SmolLM2-135M-Instruct.Q4_1.gguf \
        --minilm-dir ~/.cache/peftkit/models/all-MiniLM-L6-v2

Writes, next to this script:
  <name>/tokenizer.json (+ tokenizer_config.json, chat_template.jinja)  the tokenizer under test
  <name>/cases.json                                                      ids and decodes per corpus text
Tokenizers: smollm2 (byte-level BPE, converted from the GGUF by transformers), minilm (WordPiece),
and small tokenizers trained here on the corpus: llama2-style (Metaspace-free BPE with byte fallback),
metaspace-bpe (Metaspace pre-tokenizer), unigram (Metaspace + Unigram), llama3-style (Split regex +
byte-level BPE); llama-gguf and gemma-gguf (SentencePiece GGUF vocabularies, converted by transformers;
`--gemma-gguf-only` writes the second alone).
"""
import argparse
import json
import os
import shutil
import tempfile

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers, Regex

HERE = os.path.dirname(os.path.abspath(__file__))

CORPUS = [
    "Hello world!",
    "The quick brown fox jumps over the lazy dog. It's 12:45, isn't it? We'll see; they've gone, I'd say.",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n\n\nmixed \t \n whitespace",
    "                                        many spaces then text",
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { printf(\"%d\\n\", i * 3.14159); }",
    '{"name": "PEFTKit", "version": [0, 1, 2], "nested": {"ok": true, "value": null}}',
    "Numbers: 0 1 12 123 1234 12345 123456 3.14159 -42 1e-10 1,000,000 ٣٤٥",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 🇯🇵 1️⃣ #️⃣ ❤️",
    "中文分词测试：我爱自然语言处理。日本語のテキストも。한국어 문장입니다.",
    "العربية: مرحبا بالعالم، كيف حالك؟",
    "ภาษาไทย: สวัสดีครับ ยินดีต้อนรับ",
    "Combining marks: e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0327\u0301",
    "NFC: café naïve Ångström — NFD: cafe\u0301 nai\u0308ve A\u030angstro\u0308m",
    "Supercalifragilisticexpialidocious " + "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "A" * 300,
    "Special-looking text: <|im_start|>user\nhi<|im_end|> [CLS] [SEP] <s> </s> <unk>",
    "MiXeD CaSe ÀÉÎÕÜ ΣΊΣΥΦΟΣ straße İstanbul",
    "Punctuation!!! ??? ... --- *** ((nested)) [brackets] {braces} <angles> 'quotes' \"double\"",
    "URLs: https://example.com/path?query=1&x=y#frag and emails like someone@example.org",
    "Zero\u200bwidth\u200cjoiners\u200dand\ufeffBOM and control \x07 bell \x00 nul",
    "e",
    "",
    " ",
    "\n",
    "Added tokens: <mask> here,  <mask>  there; [TOOL]   call; hello world, sayhello, hello_there, HELLO; Ünïcode and unicode; <mask><mask>",
]

TRAIN_TEXT = CORPUS * 20 + [
    "The committee will meet on Tuesday to discuss the budget for the next fiscal year.",
    "Machine learning models are trained on large datasets of text and code.",
    "Parameter-efficient fine-tuning adapts a frozen model with a small number of new weights.",
] * 50

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def cases_for(tokenizer):
    cases = []
    for text in CORPUS:
        tokenizer.encode_special_tokens = True  # special-token text stays text (PEFTKit's default)
        plain = tokenizer.encode(text, add_special_tokens=True).ids
        plain_no_special = tokenizer.encode(text, add_special_tokens=False).ids
        tokenizer.encode_special_tokens = False  # the caller opted in
        parsed = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": plain,
            "ids_without_special_tokens": plain_no_special,
            "ids_parsing_special_tokens": parsed,
            "decoded": tokenizer.decode(plain, skip_special_tokens=False),
            "decoded_skipping_special_tokens": tokenizer.decode(plain, skip_special_tokens=True),
        })
    return cases


def write(name, tokenizer, extra_files=None):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    tokenizer.save(os.path.join(folder, "tokenizer.json"), pretty=False)
    for source, target in (extra_files or {}).items():
        shutil.copy(source, os.path.join(folder, target))
    with open(os.path.join(folder, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": name, "cases": cases_for(tokenizer)}, f, ensure_ascii=False, indent=1)
    print("wrote", folder)


def train(model, trainer, normalizer=None, pre_tokenizer=None, decoder=None, post_processor=None):
    tokenizer = Tokenizer(model)
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    if pre_tokenizer is not None:
        tokenizer.pre_tokenizer = pre_tokenizer
    if decoder is not None:
        tokenizer.decoder = decoder
    tokenizer.train_from_iterator(TRAIN_TEXT, trainer=trainer)
    if post_processor is not None:
        tokenizer.post_processor = post_processor(tokenizer)
    return tokenizer


def write_vocab_only_gguf(source, target):
    """Copies the general.* and tokenizer.* metadata of a GGUF into a tensor-free GGUF (a vocabulary fixture)."""
    import gguf
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, arch=reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer.") and name not in ("general.name",):
            continue
        value_type = field.types[0]
        value = field.contents()
        if value_type == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, value, value_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(name, value, value_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print("wrote", target)


def write_llama_gguf_fixture():
    """A SentencePiece-style ("llama") GGUF vocabulary built from the llama2-style tokenizer, plus the
    ids transformers produces after converting that GGUF (merges derived from the scores)."""
    import gguf
    from transformers import AutoTokenizer
    source = Tokenizer.from_file(os.path.join(HERE, "llama2-style", "tokenizer.json"))
    vocab = source.get_vocab()
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    types = [2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if (t.startswith("<0x") and len(t) == 6) else 1
             for t in tokens]
    folder = os.path.join(HERE, "llama-gguf")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "vocab.gguf")
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_context_length(2048); writer.add_embedding_length(64); writer.add_block_count(1)
    writer.add_feed_forward_length(128); writer.add_head_count(4); writer.add_head_count_kv(4)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([float(-i) for i in range(len(tokens))])
    writer.add_token_types(types)
    writer.add_bos_token_id(vocab["<s>"]); writer.add_eos_token_id(vocab["</s>"]); writer.add_unk_token_id(vocab["<unk>"])
    writer.add_add_bos_token(True); writer.add_add_eos_token(False)
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    with tempfile.TemporaryDirectory() as tmp:
        AutoTokenizer.from_pretrained(folder, gguf_file="vocab.gguf").save_pretrained(tmp)
        converted = Tokenizer.from_file(os.path.join(tmp, "tokenizer.json"))
    with open(os.path.join(folder, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "llama-gguf", "cases": cases_for(converted)}, f, ensure_ascii=False, indent=1)
    print("wrote", folder)


def write_gemma_gguf_fixture():
    """A Gemma-style SentencePiece GGUF vocabulary (architecture gemma3, no merges, no prefix space):
    Gemma's control tokens, user-defined newline and space-run pieces stored with real spaces, byte
    tokens, then the llama2-style pieces with scores that disagree with their order in two places (the
    order is what counts). The cases are the ids of transformers' conversion of it."""
    import gguf
    from transformers import AutoTokenizer
    source = Tokenizer.from_file(os.path.join(HERE, "llama2-style", "tokenizer.json"))
    vocab = source.get_vocab()
    pieces = [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])
              if token not in ("<unk>", "<s>", "</s>") and not (token.startswith("<0x") and len(token) == 6)]
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
    user_defined = ["\n", "\n\n", "  ", "   ", "\t"]
    taken = set(specials) | set(user_defined) | {"\u2581\u2581", "\u2581\u2581\u2581"}  # no piece twice, as in Gemma's file
    pieces = [piece for piece in pieces if piece not in taken]
    tokens = specials + user_defined + [f"<0x{b:02X}>" for b in range(256)] + pieces
    types = [3] * len(specials) + [4] * len(user_defined) + [6] * 256 + [1] * len(pieces)
    scores = [-1000.0] * (len(specials) + len(user_defined) + 256) + [float(-i) for i in range(len(pieces))]
    first = len(specials) + len(user_defined) + 256
    scores[first + 40], scores[first + 41] = scores[first + 41], scores[first + 40]
    scores[first + 300] = 5.0
    folder = os.path.join(HERE, "gemma-gguf")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "vocab.gguf")
    writer = gguf.GGUFWriter(path, arch="gemma3")
    writer.add_context_length(2048); writer.add_embedding_length(64); writer.add_block_count(1)
    writer.add_feed_forward_length(128); writer.add_head_count(4); writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(2); writer.add_eos_token_id(1); writer.add_unk_token_id(3); writer.add_pad_token_id(0)
    writer.add_add_bos_token(True); writer.add_add_eos_token(False); writer.add_add_space_prefix(False)
    writer.write_header_to_file(); writer.write_kv_data_to_file(); writer.write_tensors_to_file(); writer.close()
    with tempfile.TemporaryDirectory() as tmp:
        AutoTokenizer.from_pretrained(folder, gguf_file="vocab.gguf").save_pretrained(tmp)
        converted = Tokenizer.from_file(os.path.join(tmp, "tokenizer.json"))
    cases = cases_for(converted)
    extra = ["Two  spaces,   three\tand\n\nlines", "<start_of_turn>user\nHi<end_of_turn>\n", "   ", "日本語 ünïcödé"]
    for text in extra:
        converted.encode_special_tokens = True
        ids = converted.encode(text, add_special_tokens=True).ids
        converted.encode_special_tokens = False
        cases.append({"text": text, "ids": ids,
                      "ids_without_special_tokens": converted.encode(text, add_special_tokens=False).ids if False else None,
                      "ids_parsing_special_tokens": converted.encode(text, add_special_tokens=False).ids,
                      "decoded": converted.decode(ids, skip_special_tokens=False),
                      "decoded_skipping_special_tokens": converted.decode(ids, skip_special_tokens=True)})
        converted.encode_special_tokens = True
        cases[-1]["ids_without_special_tokens"] = converted.encode(text, add_special_tokens=False).ids
    with open(os.path.join(folder, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "gemma-gguf", "cases": cases}, f, ensure_ascii=False, indent=1)
    print("wrote", folder)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smollm2-gguf", required=False)
    parser.add_argument("--minilm-dir", required=False)
    parser.add_argument("--gemma-gguf-only", action="store_true", help="write only the gemma-gguf fixture (no real models needed)")
    args = parser.parse_args()
    if args.gemma_gguf_only:
        write_gemma_gguf_fixture()
        return
    if not (args.smollm2_gguf and args.minilm_dir):
        parser.error("--smollm2-gguf and --minilm-dir are required (or --gemma-gguf-only)")

    # SmolLM2: transformers converts the GGUF vocabulary to a fast tokenizer.
    from transformers import AutoTokenizer
    with tempfile.TemporaryDirectory() as tmp:
        hf = AutoTokenizer.from_pretrained(os.path.dirname(args.smollm2_gguf), gguf_file=os.path.basename(args.smollm2_gguf))
        hf.save_pretrained(tmp)
        write("smollm2", Tokenizer.from_file(os.path.join(tmp, "tokenizer.json")),
              {os.path.join(tmp, "tokenizer_config.json"): "tokenizer_config.json",
               os.path.join(tmp, "chat_template.jinja"): "chat_template.jinja"})

    write_vocab_only_gguf(args.smollm2_gguf, os.path.join(HERE, "smollm2", "vocab.gguf"))

    write("minilm", Tokenizer.from_file(os.path.join(args.minilm_dir, "tokenizer.json")),
          {os.path.join(args.minilm_dir, "tokenizer_config.json"): "tokenizer_config.json"})

    specials = ["<unk>", "<s>", "</s>"]

    # Llama-2 style: normaliser prepends ▁ and replaces spaces, BPE with byte fallback, no pre-tokenizer.
    llama2 = train(
        models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True),
        trainers.BpeTrainer(vocab_size=600, special_tokens=specials + [f"<0x{b:02X}>" for b in range(256)],
                            initial_alphabet=[]),
        normalizer=normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
        pre_tokenizer=pre_tokenizers.Split(" ", "merged_with_previous"),
        decoder=decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                   decoders.Strip(" ", 1, 0)]),
        post_processor=lambda t: processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", t.token_to_id("<s>"))]))
    llama2.pre_tokenizer = None
    write("llama2-style", llama2)

    metaspace = train(
        models.BPE(unk_token="<unk>"),
        trainers.BpeTrainer(vocab_size=500, special_tokens=specials),
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        decoder=decoders.Metaspace(replacement="▁", prepend_scheme="first"),
        post_processor=lambda t: processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> $B </s>",
            special_tokens=[("<s>", t.token_to_id("<s>")), ("</s>", t.token_to_id("</s>"))]))
    write("metaspace-bpe", metaspace)

    unigram = train(
        models.Unigram(),
        trainers.UnigramTrainer(vocab_size=400, special_tokens=specials, unk_token="<unk>"),
        normalizer=normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()]),
        pre_tokenizer=pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        decoder=decoders.Metaspace(replacement="▁", prepend_scheme="always"))
    write("unigram", unigram)

    llama3 = train(
        models.BPE(),
        trainers.BpeTrainer(vocab_size=700, special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
        pre_tokenizer=pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
        decoder=decoders.ByteLevel(),
        post_processor=lambda t: processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
            special_tokens=[("<|begin_of_text|>", t.token_to_id("<|begin_of_text|>"))]))
    write("llama3-style", llama3)

    bert_cased = train(
        models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=20),
        trainers.WordPieceTrainer(vocab_size=600, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]),
        normalizer=normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
        pre_tokenizer=pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.Punctuation()]),
        decoder=decoders.WordPiece(),
        post_processor=lambda t: processors.BertProcessing(("[SEP]", t.token_to_id("[SEP]")), ("[CLS]", t.token_to_id("[CLS]"))))
    write("wordpiece-cased", bert_cased)

    # Added-token flags: lstrip, rstrip, single_word, normalized (on a normalising tokenizer).
    with_added = Tokenizer.from_file(os.path.join(HERE, "wordpiece-cased", "tokenizer.json"))
    with_added.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False),
                                   AddedToken("[TOOL]", rstrip=True, special=True, normalized=False)])
    with_added.add_tokens([AddedToken("hello", single_word=True, normalized=False),
                           AddedToken("unicode", normalized=True),
                           AddedToken("there", normalized=False)])
    write("added-tokens", with_added)

    write_llama_gguf_fixture()
    write_gemma_gguf_fixture()


if __name__ == "__main__":
    main()
