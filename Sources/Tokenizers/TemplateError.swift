/// Why a chat template could not be parsed or rendered: the reason and the 1-based line of the
/// template it concerns (0 when unknown).
public struct TemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// The template line (0 when unknown).
    public var line: Int

    /// An error at `line`.
    public init(_ message: String, line: Int = 0) {
        self.message = message
        self.line = line
    }

    /// A one-line description, as users see it.
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}
