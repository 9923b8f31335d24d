import Foundation
import ModelIO

extension Tokenizer {
    /// The tokenizer as Hugging Face `tokenizers` writes it (`tokenizer.json`): the same normaliser,
    /// pre-tokenizer, model, post-processor, decoder and added tokens, so that
    /// `Tokenizer(json: tokenizer.huggingFaceJSON())` — or `tokenizers.Tokenizer.from_file` — gives the
    /// same ids. This is how a GGUF vocabulary becomes a `tokenizer.json` for a merged model.
    public func huggingFaceJSON() -> JSONValue {
        let added: [JSONValue] = addedTokens.map { token in
            .object([("id", .number(Double(token.id))), ("content", .string(token.content)),
                     ("single_word", .bool(token.singleWord)), ("lstrip", .bool(token.leftStrip)),
                     ("rstrip", .bool(token.rightStrip)), ("normalized", .bool(token.normalized)),
                     ("special", .bool(token.special))])
        }
        return .object([
            ("version", .string("1.0")),
            ("truncation", .null),
            ("padding", .null),
            ("added_tokens", .array(added)),
            ("normalizer", normalizer.map(TokenizerJSONWriter.normalizer) ?? .null),
            ("pre_tokenizer", preTokenizer.map(TokenizerJSONWriter.preTokenizer) ?? .null),
            ("post_processor", postProcessor.map { TokenizerJSONWriter.postProcessor($0, tokenText: tokenText) } ?? .null),
            ("decoder", decoder.map(TokenizerJSONWriter.decoder) ?? .null),
            ("model", TokenizerJSONWriter.model(model)),
        ])
    }

    /// `tokenizer_config.json` for transformers: the special tokens, the chat template, and the generic
    /// fast-tokenizer class, so `AutoTokenizer` uses `tokenizer.json` exactly as written.
    public func huggingFaceConfigJSON() -> JSONValue {
        var members: [(String, JSONValue)] = [("tokenizer_class", .string("PreTrainedTokenizerFast")),
                                              ("clean_up_tokenization_spaces", .bool(false))]
        if let bos = specialTokens.bos { members.append(("bos_token", .string(bos.token))) }
        if let eos = specialTokens.eos { members.append(("eos_token", .string(eos.token))) }
        if let pad = specialTokens.pad { members.append(("pad_token", .string(pad.token))) }
        if let unk = specialTokens.unk { members.append(("unk_token", .string(unk.token))) }
        if let chatTemplate { members.append(("chat_template", .string(chatTemplate))) }
        return .object(members)
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into `folder`; both are staged before
    /// either replaces an older file.
    /// - Throws: `ModelFileError.unwritable` naming the file that could not be written.
    public func saveHuggingFaceFiles(to folder: URL) throws {
        try AtomicFile.writeAll([("tokenizer.json", huggingFaceJSON()), ("tokenizer_config.json", huggingFaceConfigJSON())].map {
            (Data(($0.1.prettyPrinted() + "\n").utf8), folder.appendingPathComponent($0.0))
        })
    }

    /// The text of a token id: an added token's content or the model's token.
    func tokenText(_ id: Int) -> String? {
        addedByID[id]?.content ?? model.token(for: id)
    }
}

/// Writers for each `tokenizer.json` component: the inverse of `TokenizerJSON`'s builders.
enum TokenizerJSONWriter {
    static func pattern(_ splitter: PatternSplitter) -> JSONValue {
        .object([(splitter.isRegex ? "Regex" : "String", .string(splitter.pattern))])
    }

    static func scalar(_ scalar: Unicode.Scalar) -> JSONValue { .string(String(Character(scalar))) }

    static func normalizer(_ normalizer: Normalizer) -> JSONValue {
        switch normalizer {
        case let .sequence(items): return .object([("type", .string("Sequence")), ("normalizers", .array(items.map(Self.normalizer)))])
        case .nfc: return .object([("type", .string("NFC"))])
        case .nfd: return .object([("type", .string("NFD"))])
        case .nfkc: return .object([("type", .string("NFKC"))])
        case .nfkd: return .object([("type", .string("NFKD"))])
        case .lowercase: return .object([("type", .string("Lowercase"))])
        case .stripAccents: return .object([("type", .string("StripAccents"))])
        case let .bert(cleanText, handleChinese, stripAccents, lowercase):
            return .object([("type", .string("BertNormalizer")), ("clean_text", .bool(cleanText)),
                            ("handle_chinese_chars", .bool(handleChinese)), ("strip_accents", .bool(stripAccents)),
                            ("lowercase", .bool(lowercase))])
        case let .replace(splitter, content):
            return .object([("type", .string("Replace")), ("pattern", pattern(splitter)), ("content", .string(content))])
        case let .prepend(prefix): return .object([("type", .string("Prepend")), ("prepend", .string(prefix))])
        case let .strip(left, right):
            return .object([("type", .string("Strip")), ("strip_left", .bool(left)), ("strip_right", .bool(right))])
        }
    }

    static func preTokenizer(_ preTokenizer: PreTokenizer) -> JSONValue {
        switch preTokenizer {
        case let .sequence(items):
            return .object([("type", .string("Sequence")), ("pretokenizers", .array(items.map(Self.preTokenizer)))])
        case let .byteLevel(addPrefixSpace, useRegex):
            return .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(addPrefixSpace)),
                            ("trim_offsets", .bool(true)), ("use_regex", .bool(useRegex))])
        case let .split(splitter, behavior, invert):
            return .object([("type", .string("Split")), ("pattern", pattern(splitter)),
                            ("behavior", .string(behavior.rawValue)), ("invert", .bool(invert))])
        case let .digits(individual): return .object([("type", .string("Digits")), ("individual_digits", .bool(individual))])
        case .whitespace: return .object([("type", .string("Whitespace"))])
        case .whitespaceSplit: return .object([("type", .string("WhitespaceSplit"))])
        case .bert: return .object([("type", .string("BertPreTokenizer"))])
        case let .punctuation(behavior): return .object([("type", .string("Punctuation")), ("behavior", .string(behavior.rawValue))])
        case let .metaspace(replacement, scheme, split):
            return .object([("type", .string("Metaspace")), ("replacement", scalar(replacement)),
                            ("prepend_scheme", .string(scheme.rawValue)), ("split", .bool(split))])
        }
    }

    static func decoder(_ decoder: Decoder) -> JSONValue {
        switch decoder {
        case .byteLevel:
            return .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(true)),
                            ("use_regex", .bool(true))])
        case let .wordPiece(prefix, cleanup):
            return .object([("type", .string("WordPiece")), ("prefix", .string(prefix)), ("cleanup", .bool(cleanup))])
        case let .metaspace(replacement, scheme):
            return .object([("type", .string("Metaspace")), ("replacement", scalar(replacement)),
                            ("prepend_scheme", .string(scheme.rawValue)), ("split", .bool(true))])
        case .byteFallback: return .object([("type", .string("ByteFallback"))])
        case .fuse: return .object([("type", .string("Fuse"))])
        case let .strip(content, start, stop):
            return .object([("type", .string("Strip")), ("content", scalar(content)), ("start", .number(Double(start))),
                            ("stop", .number(Double(stop)))])
        case let .replace(splitter, content):
            return .object([("type", .string("Replace")), ("pattern", pattern(splitter)), ("content", .string(content))])
        case let .bpe(suffix): return .object([("type", .string("BPEDecoder")), ("suffix", .string(suffix))])
        case let .sequence(items): return .object([("type", .string("Sequence")), ("decoders", .array(items.map(Self.decoder)))])
        }
    }

    /// Template pieces name their special tokens by text; a piece of several ids is named by their
    /// concatenated texts (`tokenizers` requires a name per entry of `special_tokens`).
    static func postProcessor(_ processor: PostProcessor, tokenText: (Int) -> String?) -> JSONValue {
        func pair(_ id: Int) -> JSONValue { .array([.string(tokenText(id) ?? "<\(id)>"), .number(Double(id))]) }
        switch processor {
        case let .template(single, pairPieces):
            var specials: [(String, JSONValue)] = []
            func name(_ ids: [Int]) -> String {
                let text = ids.map { tokenText($0) ?? "<\($0)>" }.joined()
                if !specials.contains(where: { $0.0 == text }) {
                    specials.append((text, .object([("id", .string(text)), ("ids", .array(ids.map { .number(Double($0)) })),
                                                    ("tokens", .array(ids.map { .string(tokenText($0) ?? "<\($0)>") }))])))
                }
                return text
            }
            func pieces(_ items: [PostProcessor.Piece]) -> JSONValue {
                var typeID = 0
                return .array(items.map { piece in
                    switch piece {
                    case let .special(ids):
                        return .object([("SpecialToken", .object([("id", .string(name(ids))), ("type_id", .number(Double(typeID)))]))])
                    case .sequenceA:
                        return .object([("Sequence", .object([("id", .string("A")), ("type_id", .number(Double(typeID)))]))])
                    case .sequenceB:
                        typeID = 1
                        return .object([("Sequence", .object([("id", .string("B")), ("type_id", .number(1))]))])
                    }
                })
            }
            let singleJSON = pieces(single), pairJSON = pieces(pairPieces)
            return .object([("type", .string("TemplateProcessing")), ("single", singleJSON), ("pair", pairJSON),
                            ("special_tokens", .object(specials))])
        case let .bert(cls, sep):
            return .object([("type", .string("BertProcessing")), ("sep", pair(sep)), ("cls", pair(cls))])
        case let .roberta(cls, sep):
            return .object([("type", .string("RobertaProcessing")), ("sep", pair(sep)), ("cls", pair(cls)),
                            ("trim_offsets", .bool(true)), ("add_prefix_space", .bool(true))])
        case .identity:
            return .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(true)), ("trim_offsets", .bool(false)),
                            ("use_regex", .bool(true))])
        case let .sequence(items):
            return .object([("type", .string("Sequence")), ("processors", .array(items.map { postProcessor($0, tokenText: tokenText) }))])
        }
    }

    /// Token → id for every id whose text looks itself up (a duplicated text keeps the id a lookup
    /// finds, as a JSON object keeps one entry per key).
    static func vocabulary(_ vocabulary: Vocabulary) -> JSONValue {
        var entries: [(String, JSONValue)] = []
        entries.reserveCapacity(vocabulary.count)
        for (id, token) in vocabulary.tokens.enumerated() {
            guard let token, vocabulary[token] == id else { continue }
            entries.append((token, .number(Double(id))))
        }
        return .object(entries)
    }

    static func model(_ model: TokenizationModel) -> JSONValue {
        switch model {
        case let .bpe(bpe):
            let ranked = bpe.merges.sorted { $0.value.rank < $1.value.rank }
            let pairs = ranked.map { entry -> (String, String) in
                let left = bpe.tokens[Int(entry.key >> 32)] ?? "", right = bpe.tokens[Int(entry.key & 0xFFFF_FFFF)] ?? ""
                return (left, right)
            }
            // "a b" strings unless a token holds a space; then every merge is an [a, b] pair.
            let needsPairs = pairs.contains { $0.0.unicodeScalars.contains(" ") || $0.1.unicodeScalars.contains(" ") }
            let merges: [JSONValue] = pairs.map { needsPairs ? .array([.string($0.0), .string($0.1)]) : .string($0.0 + " " + $0.1) }
            return .object([
                ("type", .string("BPE")), ("dropout", .null),
                ("unk_token", bpe.unknownToken.map { .string($0) } ?? .null),
                ("continuing_subword_prefix", bpe.continuingSubwordPrefix.isEmpty ? .null : .string(bpe.continuingSubwordPrefix)),
                ("end_of_word_suffix", bpe.endOfWordSuffix.isEmpty ? .null : .string(bpe.endOfWordSuffix)),
                ("fuse_unk", .bool(bpe.fuseUnknown)), ("byte_fallback", .bool(bpe.byteFallback)),
                ("ignore_merges", .bool(bpe.ignoreMerges)),
                ("vocab", vocabulary(bpe.vocabulary)), ("merges", .array(merges)),
            ])
        case let .wordPiece(wordPiece):
            return .object([
                ("type", .string("WordPiece")), ("unk_token", .string(wordPiece.unknownToken)),
                ("continuing_subword_prefix", .string(wordPiece.continuingSubwordPrefix)),
                ("max_input_chars_per_word", .number(Double(wordPiece.maxInputCharactersPerWord))),
                ("vocab", vocabulary(wordPiece.vocabulary)),
            ])
        case let .unigram(unigram):
            return .object([
                ("type", .string("Unigram")), ("unk_id", unigram.unknownID.map { .number(Double($0)) } ?? .null),
                ("vocab", .array(unigram.pieces.map { .array([.string($0.token), .number($0.score)]) })),
                ("byte_fallback", .bool(unigram.byteFallback)),
            ])
        }
    }
}
