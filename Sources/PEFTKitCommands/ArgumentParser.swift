/// A command-line usage error: exits with status 2 and this message.
public struct UsageError: Error, Equatable, CustomStringConvertible {
    /// What is wrong with the command line.
    public var message: String
    /// An error with its message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Minimal, strict parser for `--flag value` / `--flag=value` / `--switch` options.
/// Unknown options, missing values and repeated options are usage errors, except options declared
/// `repeatable`, which collect every value in order.
struct ParsedArguments {
    private var values: [String: String] = [:]
    private var lists: [String: [String]] = [:]
    private var switches: Set<String> = []

    /// - Parameters:
    ///   - options: names (without `--`) that take a value.
    ///   - flags: names that take none.
    ///   - lastWins: a repeated option takes its last value (for options merged from a config file).
    ///   - repeatable: option names that may be given several times (`values(_:)` has them all).
    init(_ arguments: [String], options: Set<String>, flags: Set<String>, command: String, lastWins: Bool = false,
         repeatable: Set<String> = []) throws {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError("\(command): unexpected argument '\(argument)' (see 'peftkit \(command) --help')")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String? = nil
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if flags.contains(name) {
                guard inlineValue == nil else { throw UsageError("\(command): --\(name) takes no value") }
                guard switches.insert(name).inserted || lastWins else { throw UsageError("\(command): --\(name) given twice") }
            } else if options.contains(name) {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else { throw UsageError("\(command): --\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                if repeatable.contains(name) {
                    lists[name, default: []].append(value)
                } else {
                    guard values[name] == nil || lastWins else { throw UsageError("\(command): --\(name) given twice") }
                }
                values[name] = value
            } else {
                throw UsageError("\(command): unknown option '--\(name)' (see 'peftkit \(command) --help')")
            }
        }
    }

    func value(_ name: String) -> String? { values[name] }
    /// Every value of a repeatable option, in order.
    func values(_ name: String) -> [String] { lists[name] ?? values[name].map { [$0] } ?? [] }
    func has(_ name: String) -> Bool { switches.contains(name) }
}
