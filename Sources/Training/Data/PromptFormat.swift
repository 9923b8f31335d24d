import Tokenizers

/// A piece of an example's text, and whether the model learns to produce it.
public struct TextSegment: Sendable, Equatable {
    /// The text.
    public var text: String
    /// True when the loss covers this segment's tokens (the answer), false for context (the prompt).
    public var trained: Bool
    /// True when special-token text in this segment (written by a chat template, like
    /// `<|im_start|>`) becomes special tokens. Message contents listed in `plainContents` stay plain text.
    public var parsesSpecialTokens: Bool
    /// Message contents inside `text` that must not be read as special tokens.
    public var plainContents: [String]

    /// A segment of `text`.
    public init(_ text: String, trained: Bool, parsesSpecialTokens: Bool = false, plainContents: [String] = []) {
        self.text = text
        self.trained = trained
        self.parsesSpecialTokens = parsesSpecialTokens
        self.plainContents = plainContents
    }
}

/// How instruction and chat records become text.
public enum PromptFormat: Sendable {
    /// The model's own chat template (the default for instruction and chat data): the prompt is the
    /// conversation up to the assistant's turn, the answer is the assistant's message followed by the
    /// template's end-of-turn marker.
    case chatTemplate
    /// `### Instruction:\n{prompt}\n\n### Response:\n{response}` followed by the end-of-sequence token.
    case plain
    /// Your own formatting: the segments of a record (completion, text and classification records
    /// are passed here too).
    case custom(@Sendable (DatasetRecord) throws -> [TextSegment])
}

extension PromptFormat {
    /// The segments of `record` under this format, with `answer` set to the final answer (for exact
    /// match). Completion and text records are never templated.
    func segments(of record: DatasetRecord, tokenizer: Tokenizer) throws -> (segments: [TextSegment], answer: String?) {
        if case let .custom(body) = self {
            let segments = try body(record)
            return (segments, nil)
        }
        switch record {
        case let .completion(prompt, completion):
            return ([TextSegment(prompt, trained: false), TextSegment(completion, trained: true)], completion)
        case let .text(text):
            return ([TextSegment(text, trained: true)], nil)
        case let .classification(text, _):
            return ([TextSegment(text, trained: false)], nil)
        case let .instruction(prompt, response, system):
            var messages: [ChatMessage] = []
            if let system { messages.append(.system(system)) }
            messages += [.user(prompt), .assistant(response)]
            return (try conversationSegments(messages, tokenizer: tokenizer), response)
        case let .chat(messages):
            return (try conversationSegments(messages, tokenizer: tokenizer), messages.last(where: { $0.role == "assistant" })?.content)
        }
    }

    private func conversationSegments(_ messages: [ChatMessage], tokenizer: Tokenizer) throws -> [TextSegment] {
        switch self {
        case .chatTemplate: return try Self.templateSegments(messages, tokenizer: tokenizer)
        case .plain: return Self.plainSegments(messages)
        case .custom: preconditionFailure("handled above")
        }
    }

    /// Renders growing prefixes of the conversation: before each assistant message with the
    /// generation prompt (context), then through that message (answer). Each rendering must extend
    /// the previous one, which holds for every common template; when it does not, the record is
    /// refused rather than mis-masked.
    static func templateSegments(_ messages: [ChatMessage], tokenizer: Tokenizer) throws -> [TextSegment] {
        var segments: [TextSegment] = []
        var rendered = ""
        var firstUnrendered = 0
        func extend(to text: String, trained: Bool, contents: [String]) throws {
            guard text.unicodeScalars.starts(with: rendered.unicodeScalars) else {
                throw TemplateFormattingError("the chat template does not render the conversation incrementally (a later turn changes earlier text); use the plain format or a custom one")
            }
            let added = String(String.UnicodeScalarView(text.unicodeScalars.dropFirst(rendered.unicodeScalars.count)))
            rendered = text
            guard !added.isEmpty else { return }
            if trained {
                // The answer is the message and its end-of-turn marker; whitespace after it is context.
                let body = added.unicodeScalars.reversed().drop(while: { $0.properties.isWhitespace }).reversed()
                let answer = String(String.UnicodeScalarView(body))
                let tail = String(String.UnicodeScalarView(added.unicodeScalars.dropFirst(body.count)))
                if !answer.isEmpty { segments.append(TextSegment(answer, trained: true, parsesSpecialTokens: true, plainContents: contents)) }
                if !tail.isEmpty { segments.append(TextSegment(tail, trained: false, parsesSpecialTokens: true)) }
            } else {
                segments.append(TextSegment(added, trained: false, parsesSpecialTokens: true, plainContents: contents))
            }
        }
        for (index, message) in messages.enumerated() where message.role == "assistant" {
            let context = messages[firstUnrendered..<index].map(\.content)
            try extend(to: try tokenizer.applyChatTemplate(Array(messages[..<index]), addGenerationPrompt: true), trained: false, contents: context)
            try extend(to: try tokenizer.applyChatTemplate(Array(messages[...index]), addGenerationPrompt: false), trained: true, contents: [message.content])
            firstUnrendered = index + 1
        }
        return segments
    }

    /// `### Instruction:` / `### Response:` blocks (a system message goes first, as is).
    static func plainSegments(_ messages: [ChatMessage]) -> [TextSegment] {
        var segments: [TextSegment] = []
        var context = ""
        for message in messages {
            switch message.role {
            case "system": context += message.content + "\n\n"
            case "user": context += "### Instruction:\n" + message.content + "\n\n"
            default:
                segments.append(TextSegment(context + "### Response:\n", trained: false))
                segments.append(TextSegment(message.content, trained: true))
                context = "\n\n"
            }
        }
        return segments
    }
}

/// A chat template that cannot split a conversation into prompt and answer.
struct TemplateFormattingError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
