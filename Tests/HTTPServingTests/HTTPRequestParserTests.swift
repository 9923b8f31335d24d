import Foundation
@testable import HTTPServing
import Testing

/// The request parser: well-formed requests in any split, pipelining, chunked bodies, and every
/// limit refused with the status that answers it.
@Suite struct HTTPRequestParserTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("a request arriving one byte at a time, and two pipelined, parse as sent")
    func splitsAndPipelining() throws {
        let text = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": true}"
        var parser = HTTPRequestParser()
        var request: HTTPRequest?
        for byte in bytes(text) {
            #expect(request == nil)
            request = try parser.consume([byte])
        }
        let whole = try #require(request)
        #expect(whole.method == "POST" && whole.path == "/v1/chat/completions" && whole.header("content-type") == "application/json")
        #expect(String(decoding: whole.body, as: UTF8.self) == "{\"a\": true}" && whole.keepsAlive && !parser.hasPartialRequest)

        var pipelined = HTTPRequestParser()
        let first = try pipelined.consume(bytes("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /c"))
        #expect(first?.path == "/a")
        let second = try pipelined.consume([UInt8]())
        #expect(second?.path == "/b" && second?.keepsAlive == true)
        #expect(try pipelined.consume([UInt8]()) == nil && pipelined.hasPartialRequest)
    }

    @Test("a chunked body with extensions and trailers, in pieces")
    func chunked() throws {
        let text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        for piece in stride(from: 0, to: text.utf8.count, by: 7).map({ Array(bytes(text)[$0..<min($0 + 7, text.utf8.count)]) }) {
            if let request = try parser.consume(piece) { requests.append(request) }
            while let next = try parser.consume([UInt8]()) { requests.append(next) }
        }
        #expect(requests.count == 2)
        #expect(String(decoding: requests[0].body, as: UTF8.self) == "hello world")
        #expect(requests.last?.path == "/next")
    }

    @Test("malformed and oversized requests are refused with 400, 413, 431, 501 or 505", arguments: [
        ("GARBAGE\r\n\r\n", 400), ("GET / HTTP/2.0\r\n\r\n", 505), ("GET / SPDY\r\n\r\n", 400), ("G\u{1}T / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400), ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400), ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413), ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
    ])
    func refusals(_ text: String, _ status: Int) {
        var parser = HTTPRequestParser()
        #expect(throws: HTTPError.self) { _ = try parser.consume(Array(text.utf8)) }
        do { _ = try parser.consume(Array(text.utf8)) } catch let error as HTTPError { #expect(error.status == status, "\(text.debugDescription): \(error)") } catch {}
    }

    @Test("limits: a long request line, 10,000 headers, a large body and a large chunked body are refused before they are read whole")
    func limits() throws {
        var limits = HTTPRequestParser.Limits()
        limits.body = 1000
        var line = HTTPRequestParser(limits: limits)
        #expect { try line.consume(Array(("GET /" + String(repeating: "a", count: 10_000)).utf8)) } throws: { ($0 as? HTTPError)?.status == 431 }
        var headers = HTTPRequestParser(limits: limits)
        let many = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 10_000)
        #expect { try headers.consume(Array(many.utf8)) } throws: { ($0 as? HTTPError)?.status == 431 }
        var few = HTTPRequestParser(limits: limits)
        #expect { try few.consume(Array(("GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 101) + "\r\n").utf8)) } throws: { ($0 as? HTTPError)?.status == 431 }
        var body = HTTPRequestParser(limits: limits)
        #expect { try body.consume(Array("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n".utf8)) } throws: { ($0 as? HTTPError)?.status == 413 }
        var chunks = HTTPRequestParser(limits: limits)
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "64\r\n" + String(repeating: "x", count: 100) + "\r\n", count: 11)
        #expect { try chunks.consume(Array(chunked.utf8)) } throws: { ($0 as? HTTPError)?.status == 413 }
    }

    @Test("a head arriving byte by byte is not rescanned: the bytes examined grow linearly with the bytes received")
    func slowHeadIsLinear() throws {
        let text = "GET / HTTP/1.1\r\n" + String(repeating: "X-Long: " + String(repeating: "v", count: 590) + "\r\n", count: 100) + "\r\n"
        var parser = HTTPRequestParser()
        var request: HTTPRequest?
        for byte in text.utf8 { request = try parser.consume([byte]) }
        #expect(request?.headers.count == 100)
        #expect(parser.headScanWork < 5 * text.utf8.count, "\(parser.headScanWork) bytes examined for \(text.utf8.count) received")
    }
}
