import Foundation

/// A compiled chat template: turns messages into the exact prompt text the model was trained on.
///
/// Runs the template's Jinja source with the settings transformers uses (`trim_blocks`,
/// `lstrip_blocks`), supporting the subset real templates use: variables, `for`/`if`/`elif`/`else`,
/// `set` (including `namespace()` attributes), macros, `loop.*`, string and list operations, slicing,
/// the common filters (`trim`, `length`, `tojson`, `join`, `default`, …) and tests, and
/// `raise_exception`. Anything else fails with a `TemplateError` naming it — never a wrong prompt.
public struct ChatTemplate {
    /// The Jinja source.
    public let source: String
    private let nodes: [TemplateNode]

    /// Parses `source`.
    /// - Throws: `TemplateError` for syntax errors or unsupported statements.
    public init(_ source: String) throws {
        self.source = source
        // Like Jinja (keep_trailing_newline=False), one newline at the very end of the source is dropped.
        var body = source
        if body.hasExactSuffixNewline { body = String(String.UnicodeScalarView(body.unicodeScalars.dropLast(body.unicodeScalars.suffix(2).elementsEqual(["\r", "\n"]) ? 2 : 1))) }
        var parser = TemplateParser(try TemplateLexer.chunks(body))
        let (nodes, end) = try parser.parseNodes(until: [])
        if let end { throw TemplateError("unexpected {% \(end.keyword) %}", line: end.line) }
        self.nodes = nodes
    }

    /// Renders the conversation.
    ///
    /// - Parameters:
    ///   - messages: the conversation so far.
    ///   - addGenerationPrompt: append the header that starts the assistant's reply.
    ///   - specialTokens: `bos_token`, `eos_token`, … strings the template may print.
    ///   - variables: extra template variables (e.g. `tools`, `date_string`).
    ///   - now: the date `strftime_now` reports.
    ///   - limits: bounds on work, sizes and nesting (a template is a program from whoever made the model).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
                       variables: [String: TemplateValue] = [:], now: Date = Date(),
                       limits: TemplateLimits = TemplateLimits()) throws -> String {
        var context: [String: TemplateValue] = [
            "messages": .array(messages.map(\.templateValue)),
            "add_generation_prompt": .bool(addGenerationPrompt),
        ]
        for (name, value) in specialTokens { context[name] = .string(value) }
        for (name, value) in variables { context[name] = value }
        return try TemplateRenderer(variables: context, now: now, limits: limits).render(nodes)
    }
}

extension ChatTemplate: @unchecked Sendable {}

/// Bounds on rendering a chat template. A template comes with a model from a stranger; every limit
/// ends rendering with a `TemplateError` naming it, instead of a hang, a trap or gigabytes of memory.
/// The defaults are far above what real chat templates use.
public struct TemplateLimits: Sendable, Equatable {
    /// Statements and expressions evaluated (loops, nested loops, recursion).
    public var maxSteps = 5_000_000
    /// Nested macro calls.
    public var maxCallDepth = 64
    /// Bytes (UTF-8) in any one string value.
    public var maxStringBytes = 16 << 20
    /// Bytes (UTF-8) of the rendered prompt.
    public var maxOutputBytes = 16 << 20
    /// Items in any list (`range` included).
    public var maxSequenceLength = 1 << 20
    /// Nesting of lists, mappings and namespaces (also bounds `tojson`).
    public var maxValueDepth = 128

    /// The default limits.
    public init() {}
}

extension Tokenizer {
    /// The prompt text for `messages` from the model's own chat template.
    /// - Throws: `TokenizerError.template` when the model has no template or it fails.
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                                  variables: [String: TemplateValue] = [:]) throws -> String {
        guard let parsed = parsedChatTemplate else { throw TokenizerError.template(TemplateError("this tokenizer has no chat template")) }
        do {
            let template = try parsed.get()
            var specials: [String: String] = [:]
            if let bos = specialTokens.bos { specials["bos_token"] = bos.token }
            if let eos = specialTokens.eos { specials["eos_token"] = eos.token }
            if let pad = specialTokens.pad { specials["pad_token"] = pad.token }
            if let unk = specialTokens.unk { specials["unk_token"] = unk.token }
            return try template.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                       specialTokens: specials, variables: variables)
        } catch let error as TemplateError {
            throw TokenizerError.template(error)
        }
    }
}

private extension String {
    var hasExactSuffixNewline: Bool { unicodeScalars.last == "\n" }
}
