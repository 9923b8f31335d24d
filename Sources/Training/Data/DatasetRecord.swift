import Tokenizers

/// One example of a training file, in one of the formats people keep their data in.
public enum DatasetRecord: Sendable, Equatable {
    /// An instruction and its answer (`prompt`/`response`, or Alpaca's `instruction`/`input`/`output`
    /// with the input appended to the instruction), with an optional system message.
    case instruction(prompt: String, response: String, system: String?)
    /// A conversation (`messages` with `role` and `content`); every assistant turn is trained.
    case chat([ChatMessage])
    /// A raw continuation (`prompt`/`completion`): no chat formatting, loss on the completion.
    case completion(prompt: String, completion: String)
    /// Plain text (`text`), trained on every token.
    case text(String)
    /// A text with a class (`text` + `label`, the label a name or an index).
    case classification(text: String, label: ClassLabel)

    /// The kind of task the record trains.
    public var isClassification: Bool { if case .classification = self { true } else { false } }
}

/// A classification label as written in the file.
public enum ClassLabel: Sendable, Hashable, CustomStringConvertible {
    /// A label name (`"positive"`).
    case name(String)
    /// A label index (`1`).
    case index(Int)

    /// The label as written.
    public var description: String {
        switch self {
        case let .name(name): name
        case let .index(index): String(index)
        }
    }
}

/// The layout of a dataset file's records.
public enum DatasetFormat: String, Sendable, CaseIterable, Codable {
    /// Chosen per file from the first record's fields.
    case automatic = "auto"
    /// `{"prompt", "response"}` (optional `"system"`).
    case promptResponse = "prompt-response"
    /// `{"instruction", "input", "output"}` (input optional).
    case alpaca
    /// `{"messages": [{"role", "content"}…]}` (optional `"system"`).
    case chat
    /// `{"prompt", "completion"}`.
    case completion
    /// `{"text"}`.
    case text
    /// `{"text", "label"}`.
    case classification

    /// The format whose fields `keys` has, if any (in order of specificity).
    static func detect(_ keys: Set<String>) -> DatasetFormat? {
        if keys.contains("messages") { return .chat }
        if keys.contains("instruction") && keys.contains("output") { return .alpaca }
        if keys.contains("prompt") && keys.contains("response") { return .promptResponse }
        if keys.contains("prompt") && keys.contains("completion") { return .completion }
        if keys.contains("text") && keys.contains("label") { return .classification }
        if keys.contains("text") { return .text }
        return nil
    }
}
