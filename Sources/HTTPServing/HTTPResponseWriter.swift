import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one response on a connection: whole (`send`), or streamed in chunks (`startStream`,
/// `sendChunk`, `finishStream`) for server-sent events. A write to a client that has gone away
/// throws and sets `isClientGone`, so a long generation can stop.
public final class HTTPResponseWriter: @unchecked Sendable {
    private let socket: Int32
    private let lock = NSLock()
    /// The connection stays open after this response.
    public let keepsAlive: Bool
    private var started = false
    private var finished = false
    private var gone = false

    init(socket: Int32, keepsAlive: Bool) {
        self.socket = socket
        self.keepsAlive = keepsAlive
    }

    /// True once a write failed because the client closed the connection.
    public var isClientGone: Bool { lock.withLock { gone } }

    /// Whether a response (or a stream's head) was sent.
    public var hasResponded: Bool { lock.withLock { started } }

    /// Sends `response` with its `Content-Length`.
    public func send(_ response: HTTPResponse) throws {
        var head = "HTTP/1.1 \(response.status) \(HTTPResponse.reason(response.status))\r\n"
        for (name, value) in response.headers where !["content-length", "connection", "transfer-encoding"].contains(name.lowercased()) {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(response.body.count)\r\nConnection: \(keepsAlive ? "keep-alive" : "close")\r\n\r\n"
        try lock.withLock {
            guard !started else { throw HTTPError(status: 500, "a response was already sent") }
            started = true
            finished = true
            try write(Data(head.utf8) + response.body)
        }
    }

    /// Starts a streamed response (chunked transfer coding).
    public func startStream(status: Int, headers: [(name: String, value: String)]) throws {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Transfer-Encoding: chunked\r\nConnection: \(keepsAlive ? "keep-alive" : "close")\r\n\r\n"
        try lock.withLock {
            guard !started else { throw HTTPError(status: 500, "a response was already sent") }
            started = true
            try write(Data(head.utf8))
        }
    }

    /// Sends one chunk of a streamed response (empty data sends nothing).
    public func sendChunk(_ data: Data) throws {
        guard !data.isEmpty else { return }
        try lock.withLock {
            guard started && !finished else { throw HTTPError(status: 500, "no stream is open") }
            try write(Data(String(data.count, radix: 16).utf8) + Data("\r\n".utf8) + data + Data("\r\n".utf8))
        }
    }

    /// Ends a streamed response.
    public func finishStream() throws {
        try lock.withLock {
            guard started && !finished else { return }
            finished = true
            try write(Data("0\r\n\r\n".utf8))
        }
    }

    /// Whether the response is complete (a stream finished, or a whole response sent).
    var isComplete: Bool { lock.withLock { started && finished } }

    private func write(_ data: Data) throws {
        guard !gone else { throw HTTPError(status: 499, "the client has gone away") }
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                #if os(Linux)
                let sent = Glibc.send(socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                #else
                let sent = Darwin.send(socket, raw.baseAddress! + offset, raw.count - offset, 0)
                #endif
                if sent < 0 {
                    if errno == EINTR { continue }
                    gone = true
                    throw HTTPError(status: 499, "the client has gone away")
                }
                offset += sent
            }
        }
    }
}
