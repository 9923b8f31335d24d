import Foundation
import PEFTKit

/// A safetensors file: header JSON, offsets, and conversion of every tensor to Float.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let file = try? SafetensorsFile(data: Data(bytes: start, count: count)) else { return 0 }
    for tensor in file.tensors { _ = try? file.floats(of: tensor) }
    return 0
}
