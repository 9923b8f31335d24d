/// Why a chat template could not be parsed or rendered: the reason and the 1-based line of the
/// template it concerns (0 when unknown).
public struct TemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// The template line (0 when unknown).
    public var line: Int
    /// Whether a size limit was passed (a string, list or output too large): the input is too big,
    /// not the template wrong.
    public var exceedsLimit = false

    /// An error at `line`.
    public init(_ message: String, line: Int = 0) {
        self.message = message
        self.line = line
    }

    /// A size limit passed at `line`.
    static func limit(_ message: String, line: Int) -> TemplateError {
        var error = TemplateError(message, line: line)
        error.exceedsLimit = true
        return error
    }

    /// A one-line description, as users see it.
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}
