import Foundation
import ModelIO

extension Tokenizer {
    /// Loads a tokenizer from a folder holding `tokenizer.json` (and optionally `tokenizer_config.json`
    /// and `chat_template.jinja`), from a `tokenizer.json` file path, or from a `.gguf` file's metadata.
    /// - Throws: `TokenizerError` naming the file and field at fault.
    public static func load(from url: URL) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw TokenizerError.unreadableFile(path: url.path, reason: "no such file or folder")
        }
        if !isDirectory.boolValue && (url.pathExtension.lowercased() == "gguf" || GGUFFile.hasMagic(url)) {
            let file: GGUFFile
            do { file = try GGUFFile(contentsOf: url) } catch let error as ModelFileError {
                throw TokenizerError.unreadableFile(path: url.path, reason: error.description)
            }
            return try Tokenizer(gguf: file)
        }
        let folder = isDirectory.boolValue ? url : url.deletingLastPathComponent()
        let tokenizerURL = isDirectory.boolValue ? url.appendingPathComponent("tokenizer.json") : url
        let json = try readJSON(tokenizerURL)
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try readJSON(configURL) : nil
        var template: String? = nil
        let templateURL = folder.appendingPathComponent("chat_template.jinja")
        if FileManager.default.fileExists(atPath: templateURL.path) {
            guard let data = FileManager.default.contents(atPath: templateURL.path),
                  let text = String(data: data, encoding: .utf8) else {
                throw TokenizerError.invalidUTF8(context: templateURL.path)
            }
            template = text
        }
        return try Tokenizer(json: json, config: config, chatTemplate: template)
    }

    static func readJSON(_ url: URL) throws -> JSONValue {
        let data: Data
        do { data = try InputFile.read(url) } catch let ModelFileError.unreadable(_, reason) {
            throw TokenizerError.unreadableFile(path: url.path, reason: reason)
        }
        do { return try JSONValue.parse(data) } catch let error as JSONParseError {
            throw TokenizerError.invalidJSON(path: url.path, reason: error.description)
        }
    }

    /// Builds a tokenizer from a parsed `tokenizer.json`, with an optional `tokenizer_config.json`
    /// (special tokens, chat template) and a chat template that overrides the config's.
    public convenience init(json: JSONValue, config: JSONValue? = nil, chatTemplate: String? = nil) throws {
        guard json.members != nil else { throw TokenizerError.missingField(field: "(root object)") }
        guard let modelJSON = json["model"], modelJSON.members != nil else { throw TokenizerError.missingField(field: "model") }
        let model = try TokenizerJSON.model(modelJSON)

        var addedTokens: [AddedToken] = []
        for (index, entry) in (json["added_tokens"]?.array ?? []).enumerated() {
            guard let content = entry["content"]?.string, let id = entry["id"]?.integer else {
                throw TokenizerError.missingField(field: "added_tokens[\(index)].content/id")
            }
            guard id >= 0 && id < Vocabulary.maximumID else {
                throw TokenizerError.invalidValue(field: "added_tokens[\(index)].id", reason: "id \(id) is outside 0..<\(Vocabulary.maximumID)")
            }
            addedTokens.append(AddedToken(
                content: content, id: id, special: entry["special"]?.bool ?? false,
                leftStrip: entry["lstrip"]?.bool ?? false, rightStrip: entry["rstrip"]?.bool ?? false,
                singleWord: entry["single_word"]?.bool ?? false, normalized: entry["normalized"]?.bool ?? !(entry["special"]?.bool ?? false)))
        }
        let normalizer = try json["normalizer"].flatMap { $0.isNull ? nil : try TokenizerJSON.normalizer($0, field: "normalizer") }
        let preTokenizer = try json["pre_tokenizer"].flatMap { $0.isNull ? nil : try TokenizerJSON.preTokenizer($0, field: "pre_tokenizer") }
        let decoder = try json["decoder"].flatMap { $0.isNull ? nil : try TokenizerJSON.decoder($0, field: "decoder") }
        let lookup: (String) -> Int? = { token in
            addedTokens.first(where: { $0.content.utf8.elementsEqual(token.utf8) })?.id ?? model.id(for: token)
        }
        let postProcessor = try json["post_processor"].flatMap {
            $0.isNull ? nil : try TokenizerJSON.postProcessor($0, field: "post_processor", lookup: lookup)
        }

        func special(_ key: String) -> (String, Int)? {
            let value = config?[key]
            let token = value?.string ?? value?["content"]?.string
            guard let token, let id = lookup(token) else { return nil }
            return (token, id)
        }
        var specials = SpecialTokens(bos: special("bos_token"), eos: special("eos_token"), pad: special("pad_token"), unk: special("unk_token"))
        if specials.unk == nil, case let .wordPiece(wordPiece) = model, let id = model.id(for: wordPiece.unknownToken) {
            specials.unk = (wordPiece.unknownToken, id)
        }
        var template = chatTemplate
        if template == nil, let configTemplate = config?["chat_template"] {
            if let text = configTemplate.string {
                template = text
            } else if let named = configTemplate.array {
                template = named.first(where: { $0["name"]?.string == "default" })?["template"]?.string ?? named.first?["template"]?.string
            }
        }
        self.init(normalizer: normalizer, preTokenizer: preTokenizer, model: model, postProcessor: postProcessor,
                  decoder: decoder, addedTokens: addedTokens, specialTokens: specials, chatTemplate: template)
    }
}

/// Builders for each `tokenizer.json` component.
enum TokenizerJSON {
    static func type(_ json: JSONValue, field: String) throws -> String {
        guard let type = json["type"]?.string else { throw TokenizerError.missingField(field: "\(field).type") }
        return type
    }

    static func model(_ json: JSONValue) throws -> TokenizationModel {
        let type = json["type"]?.string ?? (json["merges"] != nil ? "BPE" : json["unk_id"] != nil ? "Unigram" : "WordPiece")
        switch type {
        case "BPE":
            let vocabulary = try stringToIntMap(json["vocab"], field: "model.vocab")
            var merges: [(String, String)] = []
            for (index, merge) in (json["merges"]?.array ?? []).enumerated() {
                if let text = merge.string {
                    guard let parts = TokenizerJSON.splitMerge(text) else {
                        throw TokenizerError.invalidValue(field: "model.merges[\(index)]", reason: "'\(text)' is not two tokens separated by a space")
                    }
                    merges.append(parts)
                } else if let pair = merge.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                    merges.append((a, b))
                } else {
                    throw TokenizerError.invalidValue(field: "model.merges[\(index)]", reason: "expected \"a b\" or [\"a\", \"b\"]")
                }
            }
            return .bpe(try BPEModel(
                vocabulary: vocabulary, merges: merges, unknownToken: json["unk_token"]?.string,
                continuingSubwordPrefix: json["continuing_subword_prefix"]?.string ?? "",
                endOfWordSuffix: json["end_of_word_suffix"]?.string ?? "",
                fuseUnknown: json["fuse_unk"]?.bool ?? false, byteFallback: json["byte_fallback"]?.bool ?? false,
                ignoreMerges: json["ignore_merges"]?.bool ?? false))
        case "WordPiece":
            return .wordPiece(try WordPieceModel(
                vocabulary: try stringToIntMap(json["vocab"], field: "model.vocab"),
                unknownToken: json["unk_token"]?.string ?? "[UNK]",
                continuingSubwordPrefix: json["continuing_subword_prefix"]?.string ?? "##",
                maxInputCharactersPerWord: json["max_input_chars_per_word"]?.integer ?? 100))
        case "Unigram":
            guard let entries = json["vocab"]?.array else { throw TokenizerError.missingField(field: "model.vocab") }
            var pieces: [(String, Double)] = []
            for (index, entry) in entries.enumerated() {
                guard let pair = entry.array, pair.count == 2, let token = pair[0].string, let score = pair[1].number else {
                    throw TokenizerError.invalidValue(field: "model.vocab[\(index)]", reason: "expected [token, score]")
                }
                pieces.append((token, score))
            }
            return .unigram(try UnigramModel(pieces: pieces, unknownID: json["unk_id"]?.integer,
                                             byteFallback: json["byte_fallback"]?.bool ?? false))
        default:
            throw TokenizerError.unsupportedComponent(kind: "model", type: type)
        }
    }

    /// A merge written as `"a b"`, split at its first space scalar (not at a `Character`: a space
    /// followed by a combining mark is one grapheme in Swift, but two tokens in the file).
    static func splitMerge(_ text: String) -> (String, String)? {
        let scalars = text.unicodeScalars
        guard let space = scalars.firstIndex(of: " ") else { return nil }
        return (String(scalars[..<space]), String(scalars[scalars.index(after: space)...]))
    }

    static func stringToIntMap(_ json: JSONValue?, field: String) throws -> Vocabulary {
        guard let members = json?.members else { throw TokenizerError.missingField(field: field) }
        var entries: [(String, Int)] = []
        entries.reserveCapacity(members.count)
        for (token, value) in members {
            guard let id = value.integer, id >= 0 else {
                throw TokenizerError.invalidValue(field: "\(field)['\(token)']", reason: "id must be a non-negative integer")
            }
            entries.append((token, id))
        }
        return try Vocabulary(entries, field: field)
    }

    static func pattern(_ json: JSONValue?, field: String) throws -> PatternSplitter {
        if let regex = json?["Regex"]?.string { return try PatternSplitter(pattern: regex, isRegex: true) }
        if let literal = json?["String"]?.string { return try PatternSplitter(pattern: literal, isRegex: false) }
        throw TokenizerError.missingField(field: "\(field).pattern")
    }

    static func scalar(_ text: String?, field: String) throws -> Unicode.Scalar {
        guard let text, text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first else {
            throw TokenizerError.invalidValue(field: field, reason: "expected a single character")
        }
        return scalar
    }

    static func normalizer(_ json: JSONValue, field: String) throws -> Normalizer {
        switch try type(json, field: field) {
        case "Sequence":
            guard let items = json["normalizers"]?.array else { throw TokenizerError.missingField(field: "\(field).normalizers") }
            return .sequence(try items.enumerated().map { try normalizer($1, field: "\(field).normalizers[\($0)]") })
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "StripAccents": return .stripAccents
        case "BertNormalizer":
            let lowercase = json["lowercase"]?.bool ?? true
            return .bert(cleanText: json["clean_text"]?.bool ?? true,
                         handleChineseCharacters: json["handle_chinese_chars"]?.bool ?? true,
                         stripAccents: json["strip_accents"]?.bool ?? lowercase, lowercase: lowercase)
        case "Replace":
            return .replace(try pattern(json["pattern"], field: "\(field).pattern"), content: json["content"]?.string ?? "")
        case "Prepend":
            guard let prefix = json["prepend"]?.string else { throw TokenizerError.missingField(field: "\(field).prepend") }
            return .prepend(prefix)
        case "Strip":
            return .strip(left: json["strip_left"]?.bool ?? true, right: json["strip_right"]?.bool ?? true)
        case let other:
            throw TokenizerError.unsupportedComponent(kind: "normalizer", type: other)
        }
    }

    static func behavior(_ json: JSONValue?, field: String, default value: SplitBehavior) throws -> SplitBehavior {
        guard let text = json?.string else { return value }
        guard let behavior = SplitBehavior(rawValue: text) else {
            throw TokenizerError.invalidValue(field: field, reason: "unknown split behavior '\(text)'")
        }
        return behavior
    }

    static func prependScheme(_ json: JSONValue) throws -> PrependScheme {
        if let text = json["prepend_scheme"]?.string {
            guard let scheme = PrependScheme(rawValue: text) else {
                throw TokenizerError.invalidValue(field: "prepend_scheme", reason: "unknown scheme '\(text)'")
            }
            return scheme
        }
        return (json["add_prefix_space"]?.bool ?? true) ? .always : .never
    }

    static func preTokenizer(_ json: JSONValue, field: String) throws -> PreTokenizer {
        switch try type(json, field: field) {
        case "Sequence":
            guard let items = json["pretokenizers"]?.array else { throw TokenizerError.missingField(field: "\(field).pretokenizers") }
            return .sequence(try items.enumerated().map { try preTokenizer($1, field: "\(field).pretokenizers[\($0)]") })
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: json["add_prefix_space"]?.bool ?? true, useRegex: json["use_regex"]?.bool ?? true)
        case "Split":
            return .split(try pattern(json["pattern"], field: "\(field).pattern"),
                          behavior: try behavior(json["behavior"], field: "\(field).behavior", default: .isolated),
                          invert: json["invert"]?.bool ?? false)
        case "Digits": return .digits(individual: json["individual_digits"]?.bool ?? false)
        case "Whitespace": return .whitespace
        case "WhitespaceSplit": return .whitespaceSplit
        case "BertPreTokenizer": return .bert
        case "Punctuation": return .punctuation(try behavior(json["behavior"], field: "\(field).behavior", default: .isolated))
        case "Metaspace":
            return .metaspace(replacement: try scalar(json["replacement"]?.string ?? "▁", field: "\(field).replacement"),
                              prependScheme: try prependScheme(json), split: json["split"]?.bool ?? true)
        case let other:
            throw TokenizerError.unsupportedComponent(kind: "pre_tokenizer", type: other)
        }
    }

    static func decoder(_ json: JSONValue, field: String) throws -> Decoder {
        switch try type(json, field: field) {
        case "Sequence":
            guard let items = json["decoders"]?.array else { throw TokenizerError.missingField(field: "\(field).decoders") }
            return .sequence(try items.enumerated().map { try decoder($1, field: "\(field).decoders[\($0)]") })
        case "ByteLevel": return .byteLevel
        case "WordPiece": return .wordPiece(prefix: json["prefix"]?.string ?? "##", cleanup: json["cleanup"]?.bool ?? true)
        case "Metaspace":
            return .metaspace(replacement: try scalar(json["replacement"]?.string ?? "▁", field: "\(field).replacement"),
                              prependScheme: try prependScheme(json))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            return .strip(content: try scalar(json["content"]?.string ?? " ", field: "\(field).content"),
                          start: json["start"]?.integer ?? 0, stop: json["stop"]?.integer ?? 0)
        case "Replace":
            return .replace(try pattern(json["pattern"], field: "\(field).pattern"), content: json["content"]?.string ?? "")
        case "BPEDecoder": return .bpe(suffix: json["suffix"]?.string ?? "</w>")
        case let other:
            throw TokenizerError.unsupportedComponent(kind: "decoder", type: other)
        }
    }

    static func postProcessor(_ json: JSONValue, field: String, lookup: (String) -> Int?) throws -> PostProcessor {
        func specialID(_ value: JSONValue?, _ name: String) throws -> Int {
            if let pair = value?.array, pair.count == 2, let id = pair[1].integer { return id }
            throw TokenizerError.missingField(field: "\(field).\(name)")
        }
        switch try type(json, field: field) {
        case "TemplateProcessing":
            var specials: [String: [Int]] = [:]
            for (name, entry) in json["special_tokens"]?.members ?? [] {
                guard let ids = entry["ids"]?.array?.compactMap(\.integer) else {
                    throw TokenizerError.missingField(field: "\(field).special_tokens.\(name).ids")
                }
                specials[name] = ids
            }
            func pieces(_ key: String) throws -> [PostProcessor.Piece] {
                guard let items = json[key]?.array else { throw TokenizerError.missingField(field: "\(field).\(key)") }
                return try items.enumerated().map { index, item in
                    if let special = item["SpecialToken"] {
                        guard let name = special["id"]?.string else { throw TokenizerError.missingField(field: "\(field).\(key)[\(index)].SpecialToken.id") }
                        if let ids = specials[name] { return .special(ids) }
                        guard let id = lookup(name) else {
                            throw TokenizerError.invalidValue(field: "\(field).\(key)[\(index)]", reason: "special token '\(name)' is unknown")
                        }
                        return .special([id])
                    }
                    if let sequence = item["Sequence"] { return sequence["id"]?.string == "B" ? .sequenceB : .sequenceA }
                    throw TokenizerError.invalidValue(field: "\(field).\(key)[\(index)]", reason: "expected SpecialToken or Sequence")
                }
            }
            return .template(single: try pieces("single"), pair: try pieces("pair"))
        case "BertProcessing":
            return .bert(cls: try specialID(json["cls"], "cls"), sep: try specialID(json["sep"], "sep"))
        case "RobertaProcessing":
            return .roberta(cls: try specialID(json["cls"], "cls"), sep: try specialID(json["sep"], "sep"))
        case "ByteLevel":
            return .identity
        case "Sequence":
            guard let items = json["processors"]?.array else { throw TokenizerError.missingField(field: "\(field).processors") }
            return .sequence(try items.enumerated().map { try postProcessor($1, field: "\(field).processors[\($0)]", lookup: lookup) })
        case let other:
            throw TokenizerError.unsupportedComponent(kind: "post_processor", type: other)
        }
    }
}
