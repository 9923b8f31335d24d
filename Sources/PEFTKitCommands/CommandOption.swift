import PEFT

/// One command-line option, declared once: its name, what it takes (with its default and range) and
/// its help. A command's help text, its parser, its typed values and its `--config` keys all come
/// from its declarations, so they cannot disagree.
struct CommandOption {
    /// What the option takes.
    enum Kind {
        /// No value (`--quiet`).
        case flag
        /// Free text: a path, a list, a specification.
        case text
        /// An integer in `range`; nil default: unset unless given.
        case integer(default: Int?, range: ClosedRange<Int>)
        /// A finite number in `range`; nil default: unset unless given.
        case number(default: Double?, range: ClosedRange<Double>)
        /// A non-negative 64-bit integer (a seed).
        case unsigned(default: UInt64)
        /// One of `among`.
        case choice(default: String, among: [String])
    }

    /// The name without `--`.
    let name: String
    /// The value's placeholder in help (`N`, `PATH`); empty for flags.
    let placeholder: String
    /// The help text; further lines continue it.
    let help: String
    /// What it takes.
    let kind: Kind
    /// How help shows the default when the declared one does not say it well (`every epoch`).
    var defaultDescription: String? = nil
    /// The option may be given several times (`--retain`).
    var repeatable = false

    /// The default as help shows it, if any.
    var defaultText: String? {
        if let defaultDescription { return defaultDescription }
        switch kind {
        case .flag, .text: return nil
        case let .integer(value, _): return value.map { "\($0)" }
        case let .number(value, _): return value.map { $0 == $0.rounded() && abs($0) < 1e9 ? "\(Int($0))" : "\($0)" }
        case let .choice(value, _): return value
        case let .unsigned(value): return "\(value)"
        }
    }

    /// The option's lines in help: name and placeholder in a column of 30, then the help and its default.
    var helpLines: [String] {
        var text = help.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let defaultText, !defaultText.isEmpty, !text.isEmpty { text[text.count - 1] += " (default \(defaultText))" }
        let head = "  " + ("--" + name + (placeholder.isEmpty ? "" : " " + placeholder)).padding(toLength: 30, withPad: " ", startingAt: 0)
        return text.enumerated().map { ($0.offset == 0 ? head : String(repeating: " ", count: 32)) + $0.element }
    }

    /// An adapter method's option (from the registry) as a command-line option.
    init(_ option: AdapterOption, help: String) {
        name = option.name
        placeholder = option.placeholder
        self.help = help
        switch option.kind {
        case let .integer(value, range): kind = .integer(default: value, range: range)
        case let .number(value, range): kind = .number(default: value, range: range)
        }
        defaultDescription = ""  // the adapter section says each method's default
    }

    /// An option.
    init(_ name: String, _ placeholder: String = "", _ help: String, _ kind: Kind, defaultDescription: String? = nil, repeatable: Bool = false) {
        self.name = name
        self.placeholder = placeholder
        self.help = help
        self.kind = kind
        self.defaultDescription = defaultDescription
        self.repeatable = repeatable
    }
}

/// A command's options, in help sections.
struct CommandOptions {
    /// Titled groups of options, in help order.
    let sections: [(title: String, options: [CommandOption])]

    /// Every option.
    var all: [CommandOption] { sections.flatMap(\.options) }
    /// The options that take a value.
    var valueNames: Set<String> { Set(all.filter { if case .flag = $0.kind { false } else { true } }.map(\.name)) }
    /// The options that take none.
    var flagNames: Set<String> { Set(all.filter { if case .flag = $0.kind { true } else { false } }.map(\.name)) }
    /// The options that may repeat.
    var repeatableNames: Set<String> { Set(all.filter(\.repeatable).map(\.name)) }

    /// The declaration of `name`.
    subscript(_ name: String) -> CommandOption {
        guard let option = all.first(where: { $0.name == name }) else { preconditionFailure("no declared option --\(name)") }
        return option
    }

    /// The sections as help text (an empty help line ends a section's title block).
    var helpText: String {
        sections.map { section in ([section.title + ":"] + section.options.flatMap(\.helpLines)).joined(separator: "\n") }.joined(separator: "\n\n")
    }

    /// Parses `arguments` against the declarations.
    func parse(_ arguments: [String], command: String, lastWins: Bool = false) throws -> ParsedArguments {
        try ParsedArguments(arguments, options: valueNames, flags: flagNames, command: command, lastWins: lastWins, repeatable: repeatableNames)
    }
}

/// Typed values of declared options: the default and range come from the declaration.
extension ParsedArguments {
    /// The integer value of `option` (its default when not given; nil when it has none).
    func integer(_ option: CommandOption, command: String) throws -> Int? {
        guard case let .integer(value, range) = option.kind else { preconditionFailure("--\(option.name) is not an integer option") }
        guard self.value(option.name) != nil else { return value }
        return try integer(option.name, command: command, default: 0, minimum: range.lowerBound, maximum: range.upperBound)
    }

    /// The number value of `option` (its default when not given; nil when it has none).
    func number(_ option: CommandOption, command: String) throws -> Double? {
        guard case let .number(value, range) = option.kind else { preconditionFailure("--\(option.name) is not a number option") }
        guard self.value(option.name) != nil else { return value }
        return try double(option.name, command: command, default: 0, range: range)
    }

    /// The value of an unsigned `option` (its default when not given).
    func unsigned(_ option: CommandOption, command: String) throws -> UInt64 {
        guard case let .unsigned(value) = option.kind else { preconditionFailure("--\(option.name) is not an unsigned option") }
        return try unsigned(option.name, command: command, default: value)
    }

    /// The chosen value of `option`.
    func choice(_ option: CommandOption, command: String) throws -> String {
        guard case let .choice(value, among) = option.kind else { preconditionFailure("--\(option.name) is not a choice option") }
        return try choice(option.name, command: command, default: value, among: among)
    }
}
