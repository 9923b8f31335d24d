import Foundation
import PEFTKit

/// The JSON parser every configuration and tokenizer file goes through, and its serialisers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let value = try? JSONValue.parse(Data(bytes: start, count: count)) else { return 0 }
    _ = value.serialized()
    _ = value.prettyPrinted()
    return 0
}
