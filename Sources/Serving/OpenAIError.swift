/// An error answered in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with its
/// HTTP status.
public struct OpenAIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The HTTP status (400 malformed, 401 bad key, 404 unknown model, 422 prompt too long, 503 busy …).
    public var status: Int
    /// What is wrong.
    public var message: String
    /// OpenAI's `type` (`invalid_request_error`, `authentication_error`, `server_error` …).
    public var type: String
    /// The request field at fault, if one is.
    public var param: String?
    /// A short machine-readable code (`model_not_found`, `context_length_exceeded` …).
    public var code: String?

    /// An error.
    public init(status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    /// A 400 naming the field.
    static func invalid(_ param: String, _ message: String) -> OpenAIError {
        OpenAIError(status: 400, "'\(param)': \(message)", param: param)
    }

    /// `<status> <message>`.
    public var description: String { "\(status) \(message)" }
}
