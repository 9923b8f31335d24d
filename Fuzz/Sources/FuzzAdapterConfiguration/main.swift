import Foundation
import PEFTKit

/// An `adapter_config.json`: parsing, validation, and writing it back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let configuration = try? AdapterConfigurations.parse(Data(bytes: start, count: count)) else { return 0 }
    _ = configuration.fileText
    return 0
}
