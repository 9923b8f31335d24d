import Foundation

/// Reads HTTP/1.1 requests from bytes as they arrive, under limits, so a hostile client cannot make
/// the server hold unbounded data: the request line, the number and total size of header fields and
/// the body are bounded; bodies come by `Content-Length` or `chunked` transfer coding; pipelined
/// requests stay in the buffer for the next call.
public struct HTTPRequestParser: Sendable {
    /// The bounds.
    public struct Limits: Sendable {
        /// Longest request line, bytes.
        public var requestLine = 8 * 1024
        /// Most header fields.
        public var headerCount = 100
        /// Most bytes of all header lines together.
        public var headerBytes = 64 * 1024
        /// Largest body, bytes.
        public var body = 16 * 1024 * 1024
        /// Default limits.
        public init() {}
    }

    /// The limits applied.
    public let limits: Limits
    private var buffer: [UInt8] = []
    /// How far the head's end has been looked for (a slow client's bytes are not rescanned).
    private var scanned = 0
    /// Bytes examined looking for heads' ends (for tests: it grows linearly with the bytes received).
    private(set) var headScanWork = 0
    /// A chunked body decoded so far, and where decoding resumes in the buffer.
    private var chunked: (body: Data, position: Int)?

    /// A parser under `limits`.
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Whether bytes of an unfinished request are waiting.
    public var hasPartialRequest: Bool { !buffer.isEmpty }

    /// Adds `bytes` and returns the next complete request, if one is there (call again with no bytes
    /// for pipelined ones).
    /// - Throws: `HTTPError` with the status that answers a malformed or oversized request.
    public mutating func consume(_ bytes: some Collection<UInt8>) throws -> HTTPRequest? {
        buffer.append(contentsOf: bytes)
        headScanWork += buffer.count - max(0, scanned - 3)
        guard let headerEnd = Self.find([13, 10, 13, 10], in: buffer, from: max(0, scanned - 3)) else {
            scanned = buffer.count
            try checkPartialHead()
            return nil
        }
        guard headerEnd + 4 <= limits.headerBytes + limits.requestLine + 4 else {
            throw HTTPError(status: 431, "the request head is larger than \(limits.headerBytes + limits.requestLine) bytes")
        }
        let head = Array(buffer[..<headerEnd])
        var lines = Self.split(head)
        let requestLine = lines.removeFirst()
        guard requestLine.count <= limits.requestLine else { throw HTTPError(status: 431, "the request line is longer than \(limits.requestLine) bytes") }
        let (method, target, version) = try Self.parseRequestLine(requestLine)
        guard lines.count <= limits.headerCount else { throw HTTPError(status: 431, "more than \(limits.headerCount) header fields") }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: 58), colon > 0 else { throw HTTPError(status: 400, "a header line has no name: field") }
            let nameBytes = line[..<colon]
            guard nameBytes.allSatisfy(Self.isTokenByte) else { throw HTTPError(status: 400, "a header name holds a character HTTP does not allow") }
            guard let name = String(bytes: nameBytes, encoding: .ascii),
                  let value = String(bytes: line[(colon + 1)...], encoding: .utf8) ?? String(bytes: line[(colon + 1)...], encoding: .isoLatin1) else {
                throw HTTPError(status: 400, "a header field is not text")
            }
            headers.append((name, value.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))))
        }
        var request = HTTPRequest(method: method, target: target, version: version, headers: headers, body: Data())
        let bodyStart = headerEnd + 4
        let transfer = request.header("Transfer-Encoding")?.lowercased()
        let length = request.header("Content-Length")
        if let transfer {
            guard length == nil else { throw HTTPError(status: 400, "both Transfer-Encoding and Content-Length") }
            guard transfer == "chunked" else { throw HTTPError(status: 501, "transfer coding '\(transfer.prefix(40))' is not supported") }
            guard let (body, end) = try decodeChunked(from: bodyStart) else { return nil }
            request.body = body
            buffer.removeFirst(end)
            scanned = 0
            chunked = nil
            return request
        }
        if let length {
            let values = headers.filter { $0.name.caseInsensitiveCompare("Content-Length") == .orderedSame }.map(\.value)
            guard Set(values).count == 1, let count = Int(length), count >= 0, length.allSatisfy(\.isASCII) else {
                throw HTTPError(status: 400, "Content-Length '\(length.prefix(40))' is not one non-negative number")
            }
            guard count <= limits.body else { throw HTTPError(status: 413, "the body of \(count) bytes is larger than \(limits.body)") }
            guard buffer.count - bodyStart >= count else { return nil }
            request.body = Data(buffer[bodyStart..<(bodyStart + count)])
            buffer.removeFirst(bodyStart + count)
            scanned = 0
            return request
        }
        buffer.removeFirst(bodyStart)
        scanned = 0
        return request
    }

    /// Refuses a head that is already too long before its end arrives.
    private func checkPartialHead() throws {
        let firstLineEnd = Self.find([13, 10], in: buffer)
        if firstLineEnd == nil && buffer.count > limits.requestLine { throw HTTPError(status: 431, "the request line is longer than \(limits.requestLine) bytes") }
        if buffer.count > limits.requestLine + limits.headerBytes + 4 {
            throw HTTPError(status: 431, "the request head is larger than \(limits.headerBytes + limits.requestLine) bytes")
        }
        if let end = firstLineEnd, end <= limits.requestLine { _ = try Self.parseRequestLine(Array(buffer[..<end])) }  // a garbage first line is refused early
    }

    /// The body of a chunked request starting at `start`, and where the request ends; nil while
    /// incomplete. Decoding resumes where the previous call stopped, so a body that arrives in many
    /// small reads is decoded once.
    private mutating func decodeChunked(from start: Int) throws -> (Data, Int)? {
        var (body, position) = chunked ?? (Data(), start)
        defer { chunked = (body, position) }
        while true {
            guard let lineEnd = Self.find([13, 10], in: buffer, from: position) else {
                if buffer.count - position > 64 { throw HTTPError(status: 400, "a chunk size line is too long") }
                return nil
            }
            let line = buffer[position..<lineEnd]
            let sizeText = String(decoding: line.prefix { $0 != 59 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)  // before any ';' extension
            guard !sizeText.isEmpty, sizeText.count <= 16, let size = Int(sizeText, radix: 16), size >= 0 else {
                throw HTTPError(status: 400, "chunk size '\(sizeText.prefix(20))' is not a hexadecimal number")
            }
            guard body.count + size <= limits.body else { throw HTTPError(status: 413, "the body is larger than \(limits.body) bytes") }
            if size == 0 {
                // Trailer fields until an empty line.
                var trailer = lineEnd + 2, trailers = 0
                while true {
                    guard let end = Self.find([13, 10], in: buffer, from: trailer) else { return nil }
                    if end == trailer { return (body, end + 2) }
                    trailers += 1
                    guard trailers <= limits.headerCount else { throw HTTPError(status: 431, "more than \(limits.headerCount) trailer fields") }
                    trailer = end + 2
                }
            }
            let dataStart = lineEnd + 2
            guard buffer.count >= dataStart + size + 2 else { return nil }
            guard buffer[dataStart + size] == 13, buffer[dataStart + size + 1] == 10 else { throw HTTPError(status: 400, "a chunk is not followed by CRLF") }
            body.append(contentsOf: buffer[dataStart..<(dataStart + size)])
            position = dataStart + size + 2
        }
    }

    private static func parseRequestLine(_ line: [UInt8]) throws -> (String, String, String) {
        let parts = line.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte), !parts[1].isEmpty,
              parts[1].allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw HTTPError(status: 400, "the request line is not METHOD TARGET HTTP/1.x")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            throw HTTPError(status: version.hasPrefix("HTTP/") ? 505 : 400, "version '\(version.prefix(20))' is not HTTP/1.1 or HTTP/1.0")
        }
        return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), version)
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }

    private static func split(_ head: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = [], start = 0, index = 0
        while index + 1 < head.count {
            if head[index] == 13 && head[index + 1] == 10 {
                lines.append(Array(head[start..<index]))
                index += 2
                start = index
            } else {
                index += 1
            }
        }
        lines.append(Array(head[start...]))
        return lines
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0] && Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
