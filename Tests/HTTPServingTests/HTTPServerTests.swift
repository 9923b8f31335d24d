import Foundation
@testable import HTTPServing
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A minimal blocking client on a raw socket, to send exactly the bytes a test wants.
final class RawClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw HTTPError(status: 0, "connect failed") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) } }

    /// Everything until the server closes (or the receive timeout).
    func readToEnd() -> String {
        var data = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// One response with a Content-Length: its status line, headers and body.
    func readResponse() -> (status: Int, head: String, body: String) {
        var data = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = data.firstRange(of: [13, 10, 13, 10]) {
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= end.upperBound + length {
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, head, String(decoding: data[end.upperBound..<(end.upperBound + length)], as: UTF8.self))
                }
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { return (0, String(decoding: data, as: UTF8.self), "") }
            data += buffer[0..<count]
        }
    }
}

@Suite(.serialized) struct HTTPServerTests {
    /// Echoes the method, path and body; `/stream` streams three chunks; `/slow` waits a little.
    static func echo(_ request: HTTPRequest, _ writer: HTTPResponseWriter) throws {
        switch request.path {
        case "/stream":
            try writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream")])
            for index in 0..<3 { try writer.sendChunk(Data("data: \(index)\n\n".utf8)) }
            try writer.finishStream()
        case "/slow":
            usleep(300_000)
            try writer.send(.json(200, "{\"slow\": true}"))
        case "/fail":
            throw HTTPError(status: 404, "no such thing")
        default:
            try writer.send(HTTPResponse(status: 200, body: Data("\(request.method) \(request.path) \(request.body.count)".utf8)))
        }
    }

    func server(_ configure: (inout HTTPServer.Configuration) -> Void = { _ in }) throws -> HTTPServer {
        var configuration = HTTPServer.Configuration()
        configure(&configuration)
        let server = HTTPServer(configuration: configuration, handler: Self.echo)
        try server.start()
        return server
    }

    @Test("keep-alive, chunked request bodies, streamed responses, handler errors in OpenAI's shape")
    func serves() throws {
        let server = try server()
        defer { server.stop() }
        #expect(server.port > 0)
        let client = try RawClient(port: server.port)
        client.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = client.readResponse()
        #expect(first.status == 200 && first.body == "GET /a 0" && first.head.contains("Connection: keep-alive"))
        client.send("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n")
        #expect(client.readResponse().body == "POST /b 4")
        client.send("GET /fail HTTP/1.1\r\n\r\n")
        let failed = client.readResponse()
        #expect(failed.status == 404 && failed.body.contains("\"error\": {\"message\": \"no such thing\""))
        client.send("GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n")
        let streamed = client.readToEnd()
        #expect(streamed.contains("Transfer-Encoding: chunked") && streamed.contains("data: 0") && streamed.contains("data: 2") && streamed.hasSuffix("0\r\n\r\n"))
    }

    @Test("malformed and oversized requests get their 4xx and the connection closes; the server keeps serving")
    func hostileRequests() throws {
        let server = try server { $0.limits.body = 1000 }
        defer { server.stop() }
        for (text, status) in [("NONSENSE\r\n\r\n", 400), ("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413),
                               ("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 10_000), 431), ("GET / HTTP/3\r\n\r\n", 505)] {
            let client = try RawClient(port: server.port)
            client.send(text)
            let answer = client.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 \(status) ") && answer.contains("Connection: close"), "\(text.prefix(30).debugDescription): \(answer.prefix(80))")
        }
        let client = try RawClient(port: server.port)
        client.send("GET /ok HTTP/1.1\r\n\r\n")
        #expect(client.readResponse().body == "GET /ok 0")
    }

    @Test("a client sending a byte at a time is cut off with 408 after the request timeout; an idle connection is closed")
    func slowAndIdleClients() throws {
        let server = try server {
            $0.requestTimeout = 0.5
            $0.idleTimeout = 0.5
        }
        defer { server.stop() }
        let slow = try RawClient(port: server.port)
        for byte in "GET / HTTP/1.1\r\n".utf8.prefix(6) {
            slow.send(String(UnicodeScalar(byte)))
            usleep(150_000)
        }
        #expect(slow.readToEnd().hasPrefix("HTTP/1.1 408 "))
        let idle = try RawClient(port: server.port)
        let start = Date()
        #expect(idle.readToEnd().isEmpty, "closed without a response")
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("beyond the connection limit a client is answered 503; stop lets a request in progress finish, then refuses connections")
    func limitsAndShutdown() throws {
        let server = try server { $0.maxConnections = 1 }
        let first = try RawClient(port: server.port)
        first.send("GET /slow HTTP/1.1\r\n\r\n")
        usleep(100_000)
        let second = try RawClient(port: server.port)
        #expect(second.readToEnd().hasPrefix("HTTP/1.1 503 "))
        let stopped = DispatchSemaphore(value: 0)
        Thread { server.stop(grace: 5); stopped.signal() }.start()
        #expect(first.readResponse().body == "{\"slow\": true}", "the request in progress finishes")
        stopped.wait()
        #expect(throws: HTTPError.self) { _ = try RawClient(port: server.port) }
    }

    @Test("a streaming handler learns that its client has gone")
    func clientGone() throws {
        let gone = LockedFlag()
        var configuration = HTTPServer.Configuration()
        configuration.writeTimeout = 2
        let server = HTTPServer(configuration: configuration) { _, writer in
            try writer.startStream(status: 200, headers: [])
            for _ in 0..<2000 {
                do { try writer.sendChunk(Data(repeating: 65, count: 16 * 1024)) } catch {
                    gone.set(writer.isClientGone)
                    throw error
                }
                usleep(1000)
            }
        }
        try server.start()
        defer { server.stop() }
        do {
            let client = try RawClient(port: server.port)
            client.send("GET / HTTP/1.1\r\n\r\n")
            usleep(50_000)
        }  // closed here
        let deadline = Date().addingTimeInterval(5)
        while !gone.value && Date() < deadline { usleep(20_000) }
        #expect(gone.value)
    }
}

/// A Bool behind a lock, shared with a handler.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var value: Bool { lock.withLock { flag } }
    func set(_ value: Bool) { lock.withLock { flag = value } }
}
