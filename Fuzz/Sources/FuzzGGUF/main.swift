import Foundation
import PEFTKit

/// A GGUF file: header, metadata, tensor directory, and what loading does with them (model
/// configuration and parameter plan, tokenizer vocabulary, dequantization of small tensors).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let file = try? GGUFFile(data: Data(bytes: start, count: count)) else { return 0 }
    if let configuration = try? LlamaConfiguration(gguf: file) { _ = try? configuration.parameterPlan().elementCount() }
    if let tokenizer = try? Tokenizer(gguf: file) { _ = try? tokenizer.encode("Hello world, 123 <|im_start|>") }
    for tensor in file.tensors where tensor.elementCount <= 1 << 16 { _ = try? file.floats(of: tensor) }
    return 0
}
