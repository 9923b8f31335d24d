import Foundation

/// An HTTP/1.1 request as the parser read it.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST` …
    public var method: String
    /// The request target as sent (`/v1/models?x=1`).
    public var target: String
    /// `HTTP/1.1` or `HTTP/1.0`.
    public var version: String
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]
    /// The body (empty when there is none).
    public var body: Data

    /// The target's path, without the query.
    public var path: String { String(target.prefix { $0 != "?" }) }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Whether the connection stays open after the response (HTTP/1.1 unless `Connection: close`;
    /// HTTP/1.0 only with `Connection: keep-alive`).
    public var keepsAlive: Bool {
        let connection = header("Connection")?.lowercased() ?? ""
        return version == "HTTP/1.1" ? !connection.contains("close") : connection.contains("keep-alive")
    }
}

/// An HTTP response with its whole body.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields (`Content-Length` and `Connection` are added when written).
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: Data

    /// A response.
    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response of `text`.
    public static func json(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: Data(text.utf8))
    }

    /// The reason phrase of a status code.
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}

/// Why a request could not be read, with the status to answer it with.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The HTTP status that answers it (400, 408, 413, 431, 501, 505 …).
    public var status: Int
    /// What was wrong, in words.
    public var message: String

    /// An error.
    public init(status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// `<status>: <message>`.
    public var description: String { "\(status): \(message)" }
}
