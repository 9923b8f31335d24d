import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An HTTP/1.1 server on the toolchain alone (POSIX sockets): keep-alive, `Content-Length` and
/// chunked request bodies, streamed responses, limits on every part of a request, and timeouts so
/// that a slow client cannot hold a connection: a request must arrive whole within
/// `requestTimeout` of its first byte, an idle keep-alive connection is closed after `idleTimeout`,
/// and a client that stops reading a response fails after `writeTimeout`. It binds to 127.0.0.1
/// unless told otherwise. `stop` stops accepting, lets requests in progress finish (up to a grace
/// period), then closes every connection.
public final class HTTPServer: @unchecked Sendable {
    /// How the server listens and what it tolerates.
    public struct Configuration: Sendable {
        /// The address to bind (IPv4 dotted quad).
        public var host = "127.0.0.1"
        /// The port; 0 picks a free one (see `HTTPServer.port`).
        public var port = 0
        /// Bounds on requests.
        public var limits = HTTPRequestParser.Limits()
        /// Seconds from a request's first byte to its last.
        public var requestTimeout = 30.0
        /// Seconds an open connection may wait for its next request.
        public var idleTimeout = 10.0
        /// Seconds a write may wait for a client that does not read.
        public var writeTimeout = 30.0
        /// Connections served at once; more are answered 503 and closed.
        public var maxConnections = 64
        /// Defaults.
        public init() {}
    }

    /// Handles one request: answers it through the writer (a handler that answers nothing gets a 500).
    public typealias Handler = @Sendable (HTTPRequest, HTTPResponseWriter) throws -> Void

    /// The settings.
    public let configuration: Configuration
    private let handler: Handler
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var connections: [Int32: Bool] = [:]  // socket → busy with a request
    private var stopping = false
    private var acceptDone = DispatchSemaphore(value: 0)
    /// The port the server listens on (after `start`).
    public private(set) var port = 0

    /// A server that calls `handler` for every request.
    public init(configuration: Configuration = Configuration(), handler: @escaping Handler) {
        self.configuration = configuration
        self.handler = handler
    }

    /// Binds, listens, and serves on background threads.
    /// - Throws: `HTTPError` (status 500) naming the system call that failed (an address in use, say).
    public func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Self.systemError("socket") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(configuration.port).bigEndian)
        guard inet_pton(AF_INET, configuration.host, &address.sin_addr) == 1 else {
            close(fd)
            throw HTTPError(status: 500, "'\(configuration.host)' is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let error = Self.systemError("bind to \(configuration.host):\(configuration.port)")
            close(fd)
            throw error
        }
        guard listen(fd, 128) == 0 else {
            let error = Self.systemError("listen")
            close(fd)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: actual.sin_port))
        lock.withLock { listener = fd }
        let thread = Thread { [self] in acceptLoop(fd) }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Stops accepting, waits up to `grace` seconds for requests in progress, then closes every
    /// connection. Returns once the accept loop has ended.
    public func stop(grace: Double = 5) {
        let fd: Int32 = lock.withLock {
            stopping = true
            let fd = listener
            listener = -1
            return fd
        }
        guard fd >= 0 else { return }
        acceptDone.wait()
        close(fd)
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline, lock.withLock({ connections.values.contains(true) }) { usleep(10_000) }
        lock.withLock { for socket in connections.keys { shutdown(socket, Int32(SHUT_RDWR)) } }
        while lock.withLock({ !connections.isEmpty }) && Date() < deadline.addingTimeInterval(1) { usleep(10_000) }
    }

    /// Connections open now.
    public var openConnections: Int { lock.withLock { connections.count } }

    private func acceptLoop(_ fd: Int32) {
        defer { acceptDone.signal() }
        while !lock.withLock({ stopping }) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: Int(configuration.writeTimeout), tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let admitted: Bool = lock.withLock {
                guard connections.count < configuration.maxConnections else { return false }
                connections[client] = false
                return true
            }
            guard admitted else {
                let writer = HTTPResponseWriter(socket: client, keepsAlive: false)
                try? writer.send(.json(503, Self.errorJSON("the server is at its limit of \(configuration.maxConnections) connections", type: "overloaded")))
                close(client)
                continue
            }
            let thread = Thread { [self] in
                serve(client)
                lock.withLock { _ = connections.removeValue(forKey: client) }
                close(client)
            }
            thread.stackSize = 1 << 21
            thread.start()
        }
    }

    /// Reads requests from one connection and answers them until it closes, errs or times out.
    private func serve(_ client: Int32) {
        var parser = HTTPRequestParser(limits: configuration.limits)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var requestDeadline: Date?
        var idleDeadline = Date().addingTimeInterval(configuration.idleTimeout)
        var pending: HTTPRequest?
        while true {
            if pending == nil {
                // A pipelined request may already be in the buffer.
                do { pending = try parser.consume([UInt8]()) } catch let error as HTTPError {
                    reject(client, error)
                    return
                } catch { return }
            }
            if let request = pending {
                pending = nil
                lock.withLock { connections[client] = true }
                let writer = HTTPResponseWriter(socket: client, keepsAlive: request.keepsAlive && !lock.withLock({ stopping }))
                do { try handler(request, writer) } catch let error as HTTPError where !writer.hasResponded {
                    try? writer.send(.json(error.status, Self.errorJSON(error.message, type: "invalid_request_error")))
                } catch where !writer.hasResponded {
                    try? writer.send(.json(500, Self.errorJSON("\(error)", type: "server_error")))
                } catch {}
                if !writer.hasResponded { try? writer.send(.json(500, Self.errorJSON("the handler gave no response", type: "server_error"))) }
                lock.withLock { connections[client] = false }
                guard writer.keepsAlive, writer.isComplete, !writer.isClientGone else { return }
                requestDeadline = nil
                idleDeadline = Date().addingTimeInterval(configuration.idleTimeout)
                continue
            }
            if lock.withLock({ stopping }) && !parser.hasPartialRequest { return }
            let deadline = requestDeadline ?? idleDeadline
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                if requestDeadline != nil { reject(client, HTTPError(status: 408, "the request did not arrive whole within \(configuration.requestTimeout) s")) }
                return
            }
            var poller = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 0.25) * 1000) + 1)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0 else { continue }
            let count = recv(client, &buffer, buffer.count, 0)
            if count <= 0 { return }  // closed by the client, or an error
            if requestDeadline == nil { requestDeadline = Date().addingTimeInterval(configuration.requestTimeout) }
            do { pending = try parser.consume(buffer[0..<count]) } catch let error as HTTPError {
                reject(client, error)
                return
            } catch { return }
        }
    }

    /// Answers an unreadable request with its status and closes.
    private func reject(_ client: Int32, _ error: HTTPError) {
        let writer = HTTPResponseWriter(socket: client, keepsAlive: false)
        try? writer.send(.json(error.status, Self.errorJSON(error.message, type: "invalid_request_error")))
    }

    /// OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`.
    public static func errorJSON(_ message: String, type: String, param: String? = nil, code: String? = nil) -> String {
        func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out + "\""
        }
        return "{\"error\": {\"message\": \(quoted(message)), \"type\": \(quoted(type)), \"param\": \(param.map(quoted) ?? "null"), "
            + "\"code\": \(code.map(quoted) ?? "null")}}"
    }

    private static func systemError(_ call: String) -> HTTPError {
        HTTPError(status: 500, "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
