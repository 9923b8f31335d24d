import Foundation
import PEFTKit

/// A tokenizer.json, then text to encode and decode. The input is the file, a NUL byte, and the
/// text (without a NUL, a fixed sample text is used).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let split = bytes.firstIndex(of: 0) ?? count
    guard let json = try? JSONValue.parse(Data(bytes[0..<split])), let tokenizer = try? Tokenizer(json: json) else { return 0 }
    let text = split < count ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : "Hello wörld!  123 \u{1F600} <s>"
    for special in [false, true] {
        guard let ids = try? tokenizer.encode(text, parseSpecialTokens: special) else { continue }
        _ = try? tokenizer.decode(ids)
        _ = try? tokenizer.decode(ids, skipSpecialTokens: true)
    }
    return 0
}
