import ModelIO

/// Why a model could not be loaded or run.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The configuration names an architecture this library does not implement.
    case unsupportedArchitecture(String)
    /// A configuration field is missing or invalid.
    case invalidConfiguration(field: String, reason: String)
    /// Required weights are absent from the checkpoint.
    case missingWeights([String])
    /// A weight's shape does not fit the configuration.
    case shapeMismatch(name: String, expected: [Int], found: [Int])
    /// The checkpoint file could not be read.
    case file(ModelFileError)
    /// Generation was asked for something impossible (empty prompt, bad sampling parameters…).
    case invalidGenerationParameter(String)
    /// A sequence (prompt, virtual tokens and cached positions together) is longer than the model's context.
    case contextOverflow(positions: Int, context: Int)
    /// A model folder could not be written (nothing was published at the destination).
    case cannotSave(path: String, reason: String)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .unsupportedArchitecture(name): return "unsupported model architecture '\(name)'"
        case let .invalidConfiguration(field, reason): return "invalid configuration '\(field)': \(reason)"
        case let .missingWeights(names): return "missing weights: \(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? " (+\(names.count - 8) more)" : "")"
        case let .shapeMismatch(name, expected, found): return "weight '\(name)' has shape \(found), expected \(expected)"
        case let .file(error): return error.description
        case let .invalidGenerationParameter(message): return message
        case let .contextOverflow(positions, context): return "the sequence has \(positions) positions; the model's context holds \(context)"
        case let .cannotSave(path, reason): return "cannot write \(path): \(reason)"
        }
    }
}
