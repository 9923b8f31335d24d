/// Why a tokenizer could not be loaded or used. Every case names what is wrong and where.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A tokenizer file is not valid JSON.
    case invalidJSON(path: String, reason: String)
    /// A required field is missing or has the wrong type (`field` is a dotted path such as `model.vocab`).
    case missingField(field: String)
    /// A component type this library does not implement (e.g. an unknown `pre_tokenizer.type`).
    case unsupportedComponent(kind: String, type: String)
    /// A value is present but unusable (e.g. a merge naming a token missing from the vocabulary).
    case invalidValue(field: String, reason: String)
    /// An id passed to decoding or lookup is outside the vocabulary.
    case idOutOfRange(id: Int, vocabularySize: Int)
    /// Input bytes are not valid UTF-8.
    case invalidUTF8(context: String)
    /// A chat template failed to parse or render.
    case template(TemplateError)
    /// A tokenizer's regular expression needed far more work than the input's length justifies
    /// (catastrophic backtracking); matching gave up instead of hanging.
    case patternTooExpensive(pattern: String, inputLength: Int)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .unreadableFile(path, reason): return "cannot read \(path): \(reason)"
        case let .invalidJSON(path, reason): return "\(path) is not valid JSON: \(reason)"
        case let .missingField(field): return "tokenizer file: missing or mistyped field '\(field)'"
        case let .unsupportedComponent(kind, type): return "tokenizer file: unsupported \(kind) type '\(type)'"
        case let .invalidValue(field, reason): return "tokenizer file: invalid '\(field)': \(reason)"
        case let .idOutOfRange(id, size): return "token id \(id) is outside the vocabulary (size \(size))"
        case let .invalidUTF8(context): return "\(context) is not valid UTF-8"
        case let .template(error): return "chat template: \(error)"
        case let .patternTooExpensive(pattern, length):
            return "tokenizer file: the regular expression '\(pattern)' backtracks catastrophically on an input of \(length) characters; matching was stopped"
        }
    }
}
