import Foundation
import ModelIO

extension Tokenizer {
    /// The pre-tokenizer regexes llama.cpp names in `tokenizer.ggml.pre`, for the byte-level BPE family.
    static let ggufPreTokenizerPatterns: [String: String] = [
        "llama-bpe": #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        "llama3": #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        "qwen2": #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]

    /// Builds the tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*`), the way transformers
    /// converts it: `gpt2` vocabularies become byte-level BPE (with the pre-tokenizer named by
    /// `tokenizer.ggml.pre`), control and user-defined tokens become added tokens.
    ///
    /// - Throws: `TokenizerError` naming the missing or unsupported metadata.
    public convenience init(gguf: GGUFFile) throws {
        let metadata = gguf.metadata
        guard let modelType = metadata["tokenizer.ggml.model"]?.string else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.model")
        }
        guard let tokenArray = metadata["tokenizer.ggml.tokens"]?.array else {
            throw TokenizerError.missingField(field: "tokenizer.ggml.tokens")
        }
        guard let tokens = tokenArray.strings else {
            throw TokenizerError.invalidValue(field: "tokenizer.ggml.tokens", reason: "an array of \(tokenArray.elementTypeName), not of strings")
        }
        let types: [Int]
        if let typeArray = metadata["tokenizer.ggml.token_type"]?.array {
            guard let integers = typeArray.integers else {
                throw TokenizerError.invalidValue(field: "tokenizer.ggml.token_type", reason: "an array of \(typeArray.elementTypeName), not of integers")
            }
            types = integers
        } else {
            types = []
        }
        guard types.isEmpty || types.count == tokens.count else {
            throw TokenizerError.invalidValue(field: "tokenizer.ggml.token_type", reason: "\(types.count) types for \(tokens.count) tokens")
        }
        func tokenType(_ id: Int) -> Int { types.isEmpty ? 1 : types[id] }
        let architectureName = metadata["general.architecture"]?.string ?? ""

        func specialID(_ key: String) throws -> Int? {
            guard let value = metadata[key] else { return nil }
            guard let id = value.integer, id >= 0, id < tokens.count else {
                throw TokenizerError.invalidValue(field: key, reason: "id \(value) is outside the vocabulary of \(tokens.count)")
            }
            return id
        }

        switch modelType {
        case "gpt2":
            guard let mergeArray = metadata["tokenizer.ggml.merges"]?.array else {
                throw TokenizerError.missingField(field: "tokenizer.ggml.merges")
            }
            guard let mergeTexts = mergeArray.strings else {
                throw TokenizerError.invalidValue(field: "tokenizer.ggml.merges", reason: "an array of \(mergeArray.elementTypeName), not of strings")
            }
            var merges: [(String, String)] = []
            merges.reserveCapacity(mergeTexts.count)
            for (index, text) in mergeTexts.enumerated() {
                guard let parts = TokenizerJSON.splitMerge(text) else {
                    throw TokenizerError.invalidValue(field: "tokenizer.ggml.merges[\(index)]", reason: "'\(text)' is not two tokens")
                }
                merges.append(parts)
            }
            let vocabulary = try Vocabulary(tokens.enumerated().map { ($1, $0) }, field: "tokenizer.ggml.tokens")
            let model = try BPEModel(vocabulary: vocabulary, merges: merges, unknownToken: nil, continuingSubwordPrefix: "",
                                     endOfWordSuffix: "", fuseUnknown: false, byteFallback: false, ignoreMerges: false)
            // Control (3) and user-defined (4) tokens are matched before the model, as transformers does.
            let added = tokens.indices.filter { [3, 4].contains(tokenType($0)) }.map {
                AddedToken(content: tokens[$0], id: $0, special: tokenType($0) == 3, normalized: false)
            }
            let preName = metadata["tokenizer.ggml.pre"]?.string ?? "gpt2"
            let preTokenizer: PreTokenizer
            if let pattern = Tokenizer.ggufPreTokenizerPatterns[preName] {
                preTokenizer = .sequence([.split(try PatternSplitter(pattern: pattern, isRegex: true), behavior: .isolated, invert: false),
                                          .byteLevel(addPrefixSpace: false, useRegex: false)])
            } else {
                preTokenizer = .byteLevel(addPrefixSpace: metadata["tokenizer.ggml.add_space_prefix"]?.bool ?? false, useRegex: true)
            }
            let bos = try specialID("tokenizer.ggml.bos_token_id")
            let eos = try specialID("tokenizer.ggml.eos_token_id")
            let addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
            let addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
            var template: [PostProcessor.Piece] = []
            if addBOS, let bos { template.append(.special([bos])) }
            template.append(.sequenceA)
            if addEOS, let eos { template.append(.special([eos])) }
            var pair = template
            pair.append(.sequenceB)
            func named(_ id: Int?) -> (String, Int)? { id.map { (tokens[$0], $0) } }
            self.init(normalizer: nil, preTokenizer: preTokenizer, model: .bpe(model),
                      postProcessor: .template(single: template, pair: pair), decoder: .byteLevel, addedTokens: added,
                      specialTokens: SpecialTokens(bos: named(bos), eos: named(eos),
                                                   pad: named(try specialID("tokenizer.ggml.padding_token_id")),
                                                   unk: named(try specialID("tokenizer.ggml.unknown_token_id"))),
                      chatTemplate: metadata["tokenizer.chat_template"]?.string ?? BuiltinChatTemplates.template(forArchitecture: architectureName))
        case "llama":
            // SentencePiece BPE: transformers derives merges from the scores (Gemma: from the pieces'
            // order in the file), matches control tokens (and unk/bos/eos) first, and uses a Metaspace
            // pre-tokenizer with byte fallback (Gemma: spaces become ▁ with no prefix and no split).
            let architecture = metadata["general.architecture"]?.string ?? "llama"
            let gemma = ["gemma", "gemma2", "gemma3"].contains(architecture)
            guard let scoreArray = metadata["tokenizer.ggml.scores"]?.array else {
                throw TokenizerError.missingField(field: "tokenizer.ggml.scores")
            }
            guard let scores = scoreArray.doubles, scores.count == tokens.count else {
                throw TokenizerError.invalidValue(field: "tokenizer.ggml.scores", reason: "\(scoreArray.count) scores for \(tokens.count) tokens")
            }
            guard !scores.contains(where: { $0.isNaN }) else {
                throw TokenizerError.invalidValue(field: "tokenizer.ggml.scores", reason: "a score is NaN")
            }
            // Gemma files store pieces of two or more spaces as spaces; its tokenizer spells them with ▁.
            let pieces = gemma ? tokens.map { $0.count > 1 && $0.allSatisfy { $0 == " " } ? String(repeating: "▁", count: $0.unicodeScalars.count) : $0 } : tokens
            let order = gemma ? pieces.indices.map { -Double($0) } : scores
            let vocabulary = try Vocabulary(pieces.enumerated().map { ($1, $0) }, field: "tokenizer.ggml.tokens")
            let model = try BPEModel(vocabulary: vocabulary, merges: Tokenizer.mergesFromScores(tokens: pieces, scores: order),
                                     unknownToken: gemma ? metadata["tokenizer.ggml.unknown_token_id"]?.integer.flatMap { pieces.indices.contains($0) ? pieces[$0] : nil } : nil,
                                     continuingSubwordPrefix: "", endOfWordSuffix: "",
                                     fuseUnknown: true, byteFallback: true, ignoreMerges: false)
            let bos = try specialID("tokenizer.ggml.bos_token_id")
            let eos = try specialID("tokenizer.ggml.eos_token_id")
            let unk = try specialID("tokenizer.ggml.unknown_token_id")
            var specialIDs = Set(tokens.indices.filter { tokenType($0) == 3 })
            for id in [unk, bos, eos].compactMap({ $0 }) { specialIDs.insert(id) }
            var added = specialIDs.sorted().map { AddedToken(content: tokens[$0], id: $0, special: true, normalized: false) }
            // User-defined pieces are matched whole, as transformers adds them: those still spelled as in
            // the file (Gemma's respelled runs of spaces are left to the normalizer and the merges).
            added += tokens.indices.filter { tokenType($0) == 4 && pieces[$0] == tokens[$0] }.map {
                AddedToken(content: tokens[$0], id: $0, special: false, normalized: false)
            }
            let addBOS = metadata["tokenizer.ggml.add_bos_token"]?.bool ?? true
            let addEOS = metadata["tokenizer.ggml.add_eos_token"]?.bool ?? false
            var single: [PostProcessor.Piece] = []
            var pair: [PostProcessor.Piece] = []
            if addBOS, let bos { single.append(.special([bos])) }
            single.append(.sequenceA)
            if addEOS, let eos { single.append(.special([eos])) }
            if addBOS, let bos { pair.append(.special([bos])) }
            pair.append(.sequenceA)
            if addEOS, let eos { pair.append(.special([eos])) }
            if addBOS, let bos { pair.append(.special([bos])) }
            pair.append(.sequenceB)
            if addEOS, let eos { pair.append(.special([eos])) }
            let phi3 = architecture == "phi3"
            func named(_ id: Int?) -> (String, Int)? { id.map { (tokens[$0], $0) } }
            let spaces = try PatternSplitter(pattern: " ", isRegex: false)
            let normalizer: Normalizer? = phi3 ? .sequence([.prepend("▁"), .replace(spaces, content: "▁")]) : gemma ? .replace(spaces, content: "▁") : nil
            let stripsPrefixSpace: [Decoder] = gemma ? [] : [.strip(content: " ", start: 1, stop: 0)]
            self.init(normalizer: normalizer,
                      preTokenizer: phi3 || gemma ? nil : .metaspace(replacement: "▁", prependScheme: .first, split: false),
                      model: .bpe(model),
                      postProcessor: .template(single: single, pair: pair),
                      decoder: .sequence([.replace(try PatternSplitter(pattern: "▁", isRegex: false), content: " "),
                                          .byteFallback, .fuse] + stripsPrefixSpace),
                      addedTokens: added,
                      specialTokens: SpecialTokens(bos: named(bos), eos: named(eos),
                                                   pad: named(try specialID("tokenizer.ggml.padding_token_id")), unk: named(unk)),
                      chatTemplate: metadata["tokenizer.chat_template"]?.string ?? BuiltinChatTemplates.template(forArchitecture: architectureName))
        default:
            throw TokenizerError.unsupportedComponent(kind: "GGUF tokenizer model", type: modelType)
        }
    }

    /// Merges implied by a SentencePiece vocabulary, as transformers' `generate_merges` derives them:
    /// every split of every token into two tokens of the vocabulary, ordered by the token's score
    /// (then the lengths of the two parts) from best to worst, ties kept in vocabulary order.
    static func mergesFromScores(tokens: [String], scores: [Double]) -> [(String, String)] {
        var index: [ExactString: Int] = [:]
        for (id, token) in tokens.enumerated() { index[ExactString(token)] = id }
        // `dict(zip(tokens, scores))`: one entry per distinct token, at its first position, last score.
        var order: [String] = []
        var scoreOf: [ExactString: Double] = [:]
        for (token, score) in zip(tokens, scores) {
            let key = ExactString(token)
            if scoreOf[key] == nil { order.append(token) }
            scoreOf[key] = score
        }
        struct Candidate { let left: String; let right: String; let score: Double; let leftLength: Int; let rightLength: Int; let position: Int }
        var candidates: [Candidate] = []
        for token in order {
            let scalars = Array(token.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(left: String, right: String, leftID: Int, rightID: Int, leftLength: Int)] = []
            for split in 1..<scalars.count {
                let left = ScalarText.string(scalars[..<split]), right = ScalarText.string(scalars[split...])
                if let l = index[ExactString(left)], let r = index[ExactString(right)] {
                    local.append((left, right, l, r, split))
                }
            }
            local.sort { ($0.leftID, $0.rightID) < ($1.leftID, $1.rightID) }
            let score = scoreOf[ExactString(token)]!
            for item in local {
                candidates.append(Candidate(left: item.left, right: item.right, score: score, leftLength: item.leftLength,
                                            rightLength: scalars.count - item.leftLength, position: candidates.count))
            }
        }
        candidates.sort { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.leftLength != b.leftLength { return a.leftLength > b.leftLength }
            if a.rightLength != b.rightLength { return a.rightLength > b.rightLength }
            return a.position < b.position
        }
        return candidates.map { ($0.left, $0.right) }
    }
}
