import Foundation
import HTTPServing

/// The HTTP request parser `peftkit serve` reads every client's bytes with: fed in pieces whose size
/// the input's first byte picks, pipelined requests drained; a request may never exceed the limits.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let piece = Int(bytes[0] % 16) + 1
    var limits = HTTPRequestParser.Limits()
    limits.body = 4096
    limits.headerCount = 20
    var parser = HTTPRequestParser(limits: limits)
    var offset = 1
    do {
        while offset < bytes.count {
            let end = min(offset + piece, bytes.count)
            var request = try parser.consume(bytes[offset..<end])
            while let complete = request {
                precondition(complete.body.count <= limits.body && complete.headers.count <= limits.headerCount)
                _ = complete.keepsAlive
                _ = complete.path
                request = try parser.consume([UInt8]())
            }
            offset = end
        }
    } catch {}
    return 0
}
