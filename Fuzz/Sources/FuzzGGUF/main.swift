import Foundation
import PEFTKit

/// A GGUF file: header, metadata, tensor directory, and what loading does with them (model
/// configuration and parameter plan, tokenizer vocabulary, dequantization of small tensors, and
/// small Q8_0/Q4_0/Q4_1 matrices kept packed: dequantized and multiplied both ways by the fused GEMM).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let file = try? GGUFFile(data: Data(bytes: start, count: count)) else { return 0 }
    if let configuration = try? LlamaConfiguration(gguf: file) { _ = try? configuration.parameterPlan().elementCount() }
    if let tokenizer = try? Tokenizer(gguf: file) { _ = try? tokenizer.encode("Hello world, 123 <|im_start|>") }
    for tensor in file.tensors where tensor.elementCount <= 1 << 16 {
        _ = try? file.floats(of: tensor)
        let formats: [GGUFTensorType: QuantizedMatrix.Format] = [.q8_0: .q8_0, .q4_0: .q4_0, .q4_1: .q4_1, .q4_K: .q4_K, .q6_K: .q6_K]
        guard let format = formats[tensor.type], tensor.dimensions.count == 2,
              let matrix = try? QuantizedMatrix(format: format, rows: tensor.dimensions[1], columns: tensor.dimensions[0],
                                                bytes: [UInt8](file.bytes(of: tensor))) else { continue }
        _ = matrix.dequantized()
        _ = Tensor.matmul(Tensor.ones([2, matrix.columns]), matrix, transposeW: true)
        _ = Tensor.matmul(Tensor.ones([7, matrix.rows]), matrix, transposeW: false)
    }
    return 0
}
