import Foundation
import Synchronization

/// The special tokens a model uses, with their ids (nil when the model has none).
public struct SpecialTokens: Sendable, Equatable {
    /// Beginning of sequence.
    public var bos: (token: String, id: Int)?
    /// End of sequence.
    public var eos: (token: String, id: Int)?
    /// Padding.
    public var pad: (token: String, id: Int)?
    /// Unknown token.
    public var unk: (token: String, id: Int)?

    /// Special tokens as (text, id) pairs.
    public init(bos: (String, Int)? = nil, eos: (String, Int)? = nil, pad: (String, Int)? = nil, unk: (String, Int)? = nil) {
        self.bos = bos.map { (token: $0.0, id: $0.1) }
        self.eos = eos.map { (token: $0.0, id: $0.1) }
        self.pad = pad.map { (token: $0.0, id: $0.1) }
        self.unk = unk.map { (token: $0.0, id: $0.1) }
    }

    /// Equal when every field is equal.
    public static func == (lhs: SpecialTokens, rhs: SpecialTokens) -> Bool {
        lhs.bos?.id == rhs.bos?.id && lhs.eos?.id == rhs.eos?.id && lhs.pad?.id == rhs.pad?.id && lhs.unk?.id == rhs.unk?.id
            && lhs.bos?.token == rhs.bos?.token && lhs.eos?.token == rhs.eos?.token
            && lhs.pad?.token == rhs.pad?.token && lhs.unk?.token == rhs.unk?.token
    }
}

/// Text ↔ token ids, producing exactly the ids Hugging Face `tokenizers` produces for the same
/// `tokenizer.json`.
///
/// The pipeline is the one of `tokenizers`: added tokens are matched first (special tokens only when
/// `parseSpecialTokens` is true, so user data that merely looks like `<|im_end|>` stays text), then
/// normaliser → pre-tokenizer → model, then the post-processor adds the model's special tokens.
public final class Tokenizer: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: TokenizationModel
    let postProcessor: PostProcessor?
    let decoder: Decoder?
    /// Tokens matched before the model runs, in file order.
    public let addedTokens: [AddedToken]
    /// bos/eos/pad/unk with their ids.
    public let specialTokens: SpecialTokens
    /// The model's chat template (Jinja source), if it has one.
    public let chatTemplate: String?
    /// The template parsed once (or why it cannot be), so formatting a million records does not
    /// parse it a million times.
    let parsedChatTemplate: Result<ChatTemplate, any Error>?
    /// Whether `encode` adds bos/eos around text by default, as the model was trained.
    public let addsSpecialTokensByDefault: Bool

    /// Special tokens' texts as scalars, grouped by their first scalar (a content is scanned once,
    /// not once per special token: Gemma has 6,249 of them).
    private let specialTextsByFirstScalar: [Unicode.Scalar: [[Unicode.Scalar]]]
    private let rawMatcherAll: AddedTokenMatcher
    private let rawMatcherNonSpecial: AddedTokenMatcher
    private let normalizedMatcherAll: AddedTokenMatcher
    private let normalizedMatcherNonSpecial: AddedTokenMatcher
    let addedByID: [Int: AddedToken]
    private let addedByContent: [ExactString: AddedToken]

    init(normalizer: Normalizer?, preTokenizer: PreTokenizer?, model: TokenizationModel, postProcessor: PostProcessor?,
         decoder: Decoder?, addedTokens: [AddedToken], specialTokens: SpecialTokens, chatTemplate: String?,
         addsSpecialTokensByDefault: Bool = true) {
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedTokens = addedTokens
        self.specialTokens = specialTokens
        self.chatTemplate = chatTemplate
        parsedChatTemplate = chatTemplate.map { source in Result { try ChatTemplate(source) } }
        self.addsSpecialTokensByDefault = addsSpecialTokensByDefault
        let raw = addedTokens.filter { !$0.normalized || normalizer == nil }
        let normalized = addedTokens.filter { $0.normalized && normalizer != nil }
        rawMatcherAll = AddedTokenMatcher(raw)
        rawMatcherNonSpecial = AddedTokenMatcher(raw.filter { !$0.special })
        normalizedMatcherAll = AddedTokenMatcher(normalized)
        normalizedMatcherNonSpecial = AddedTokenMatcher(normalized.filter { !$0.special })
        var byFirst: [Unicode.Scalar: [[Unicode.Scalar]]] = [:]
        for token in addedTokens where token.special {
            let scalars = Array(token.content.unicodeScalars)
            if let first = scalars.first { byFirst[first, default: []].append(scalars) }
        }
        specialTextsByFirstScalar = byFirst
        addedByID = Dictionary(addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        addedByContent = Dictionary(addedTokens.map { (ExactString($0.content), $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The same tokenizer with `source` as its chat template (`--chat-template FILE`): overrides the
    /// template the model file carries, or gives one to a file without.
    public func replacingChatTemplate(_ source: String) -> Tokenizer {
        Tokenizer(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: postProcessor, decoder: decoder,
                  addedTokens: addedTokens, specialTokens: specialTokens, chatTemplate: source,
                  addsSpecialTokensByDefault: addsSpecialTokensByDefault)
    }

    // MARK: Encoding

    /// Token ids of `text`.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: let the post-processor add the model's special tokens (e.g. `[CLS]`/`[SEP]`).
    ///   - parseSpecialTokens: recognise special-token text (like `<|im_start|>`) in `text` as those
    ///     tokens. Off by default: user data is encoded as plain text.
    ///   - maxLength: truncate so the result (special tokens included) has at most this many ids.
    /// - Throws: `TokenizerError.patternTooExpensive` when the tokenizer's own regular expression
    ///   backtracks catastrophically on `text` (a hostile tokenizer file), instead of hanging.
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = false,
                       maxLength: Int? = nil) throws -> [Int] {
        var ids = try encodeContent(text, parseSpecialTokens: parseSpecialTokens)
        let added = addSpecialTokens ? (postProcessor?.addedCount ?? 0) : 0
        if let maxLength { ids = Array(ids.prefix(max(0, maxLength - added))) }
        guard addSpecialTokens, let postProcessor else { return ids }
        return postProcessor.process(ids, nil)
    }

    /// Encodes a pair of texts (e.g. question and context) with the model's pair template.
    public func encode(_ text: String, pair: String, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = false) throws -> [Int] {
        let a = try encodeContent(text, parseSpecialTokens: parseSpecialTokens)
        let b = try encodeContent(pair, parseSpecialTokens: parseSpecialTokens)
        guard addSpecialTokens, let postProcessor else { return a + b }
        return postProcessor.process(a, b)
    }

    /// Encodes each text; the work is spread over threads for large batches.
    /// - Throws: the first error any text's encoding raised.
    public func encode(batch texts: [String], addSpecialTokens: Bool = true, parseSpecialTokens: Bool = false) throws -> [[Int]] {
        let workers = max(1, min(texts.count, ProcessInfo.processInfo.activeProcessorCount))
        let results = Mutex([[Int]](repeating: [], count: texts.count))
        let failure = Mutex<TokenizerError?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var local: [(Int, [Int])] = []
            do {
                for index in stride(from: worker, to: texts.count, by: workers) {
                    local.append((index, try encode(texts[index], addSpecialTokens: addSpecialTokens, parseSpecialTokens: parseSpecialTokens)))
                }
            } catch {
                failure.withLock { $0 = $0 ?? (error as? TokenizerError) ?? .invalidValue(field: "input", reason: "\(error)") }
            }
            results.withLock { results in for (index, ids) in local { results[index] = ids } }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { $0 }
    }

    private func encodeContent(_ text: String, parseSpecialTokens: Bool, blocked: [Bool]? = nil) throws -> [Int] {
        let rawMatcher = parseSpecialTokens ? rawMatcherAll : rawMatcherNonSpecial
        let normalizedMatcher = parseSpecialTokens ? normalizedMatcherAll : normalizedMatcherNonSpecial
        var ids: [Int] = []
        var isFirstSection = true
        for segment in rawMatcher.split(Array(text.unicodeScalars), blocked: blocked) {
            switch segment {
            case let .token(id):
                ids.append(id)
                isFirstSection = false
            case let .text(scalars):
                var normalized = scalars
                if let normalizer {
                    normalized = Array(try normalizer.apply(ScalarText.string(scalars)).unicodeScalars)
                }
                for inner in normalizedMatcher.split(normalized) {
                    switch inner {
                    case let .token(id):
                        ids.append(id)
                    case let .text(chunk):
                        let pieces = try preTokenizer?.apply([chunk], isFirstSection: isFirstSection) ?? [chunk]
                        for piece in pieces { ids.append(contentsOf: model.tokenize(piece)) }
                    }
                    isFirstSection = false
                }
            }
        }
        return ids
    }

    /// Token ids of UTF-8 bytes.
    /// - Throws: `TokenizerError.invalidUTF8` when the bytes are not valid UTF-8.
    public func encode(utf8 data: Data, addSpecialTokens: Bool = true, parseSpecialTokens: Bool = false) throws -> [Int] {
        guard let text = String(validating: data, as: UTF8.self) else { throw TokenizerError.invalidUTF8(context: "input text") }
        return try encode(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: parseSpecialTokens)
    }

    /// Token ids of a rendered chat prompt: special-token text written by the template becomes special
    /// tokens, while the same text inside `userContents` (message contents that appear verbatim in the
    /// prompt, in order) stays plain text unless `parseSpecialTokensInContent` is true.
    ///
    /// - Throws: `TokenizerError.invalidValue` when a content holding special-token text cannot be
    ///   located in the prompt (the template rewrote it), rather than guessing.
    public func encodeChat(prompt: String, userContents: [String], parseSpecialTokensInContent: Bool = false) throws -> [Int] {
        if parseSpecialTokensInContent { return try encodeContent(prompt, parseSpecialTokens: true) }
        let scalars = Array(prompt.unicodeScalars)
        var blocked = [Bool](repeating: false, count: scalars.count)
        var searchFrom = 0
        for content in userContents where containsSpecialTokenText(content) {
            // The template may insert the content as is or trimmed (`| trim`, `.strip()`).
            let candidates = [content, TemplateRenderer.strip(content, nil, left: true, right: true)]
            guard let range = candidates.lazy.compactMap({
                ScalarSearch.firstRange(of: Array($0.unicodeScalars), in: scalars, from: searchFrom)
            }).first else {
                throw TokenizerError.invalidValue(field: "chat message", reason: "content containing special-token text was rewritten by the template; pass parseSpecialTokensInContent: true or remove that text")
            }
            for i in range { blocked[i] = true }
            searchFrom = range.upperBound
        }
        return try encodeContent(prompt, parseSpecialTokens: true, blocked: blocked)
    }

    /// Whether `text` holds the exact text of a special token (scalar for scalar, as `containsExactly`).
    func containsSpecialTokenText(_ text: String) -> Bool {
        guard !specialTextsByFirstScalar.isEmpty else { return false }
        let scalars = Array(text.unicodeScalars)
        for start in scalars.indices {
            guard let candidates = specialTextsByFirstScalar[scalars[start]] else { continue }
            for candidate in candidates where candidate.count <= scalars.count - start {
                if scalars[start..<(start + candidate.count)].elementsEqual(candidate) { return true }
            }
        }
        return false
    }

    /// Renders `messages` with the model's chat template and encodes the prompt (see
    /// `encodeChat(prompt:userContents:parseSpecialTokensInContent:)` for how message text is protected).
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                           parseSpecialTokensInContent: Bool = false) throws -> [Int] {
        let prompt = try applyChatTemplate(messages, addGenerationPrompt: addGenerationPrompt)
        return try encodeChat(prompt: prompt, userContents: messages.map(\.content), parseSpecialTokensInContent: parseSpecialTokensInContent)
    }

    // MARK: Decoding

    /// Text of `ids`, optionally without special tokens.
    /// - Throws: `TokenizerError.idOutOfRange` for an id that names no token.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            if let added = addedByID[id] {
                if skipSpecialTokens && added.special { continue }
                tokens.append(added.content)
            } else if let token = model.token(for: id) {
                tokens.append(token)
            } else {
                throw TokenizerError.idOutOfRange(id: id, vocabularySize: vocabularySize)
            }
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return try decoder.decode(tokens).joined()
    }

    /// A decoder that turns ids into text one at a time without ever splitting a UTF-8 character.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    /// Number of ids (model vocabulary and added tokens).
    public var vocabularySize: Int { max(model.size, (addedTokens.map(\.id).max() ?? -1) + 1) }

    /// The id of a token string, if any.
    public func id(for token: String) -> Int? { addedByContent[ExactString(token)]?.id ?? model.id(for: token) }

    /// The token string of an id, if any.
    public func token(for id: Int) -> String? { addedByID[id]?.content ?? model.token(for: id) }

    /// True when `id` is a special added token.
    public func isSpecial(_ id: Int) -> Bool { addedByID[id]?.special ?? false }
}
