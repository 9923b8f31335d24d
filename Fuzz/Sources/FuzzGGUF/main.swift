import Foundation
import PEFTKit

/// The input written to a file and opened the way loaders open model files (memory-mapped).
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-gguf-\(getpid()).gguf")

/// A GGUF file, memory-mapped like a loader opens it: header, metadata, tensor directory, and what
/// loading does with them (model configuration and parameter plan, tokenizer vocabulary,
/// dequantization of small tensors, F32 tensors and small Q8_0/Q4_0/Q4_1/K-quant matrices used in
/// place in the mapping, the matrices dequantized and multiplied both ways by the fused GEMM).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard (try? Data(bytes: start, count: count).write(to: scratch)) != nil,
          let file = try? GGUFFile(contentsOf: scratch) else { return 0 }
    if let configuration = try? LlamaConfiguration(gguf: file) { _ = try? configuration.parameterPlan().elementCount() }
    if let tokenizer = try? Tokenizer(gguf: file) { _ = try? tokenizer.encode("Hello world, 123 <|im_start|>") }
    for tensor in file.tensors where tensor.elementCount <= 1 << 16 {
        let values = try? file.floats(of: tensor)
        if let values, let (elements, owner) = file.mappedFloat32Elements(of: tensor) {
            let borrowed = Tensor(storage: TensorStorage(borrowing: elements, keepingAlive: owner), shape: [elements.count])
            precondition(borrowed.toArray().elementsEqual(values) { $0.bitPattern == $1.bitPattern }, "borrowed and converted values differ")
        }
        let formats: [GGUFTensorType: QuantizedMatrix.Format] = [.q8_0: .q8_0, .q4_0: .q4_0, .q4_1: .q4_1, .q4_K: .q4_K, .q6_K: .q6_K]
        guard let format = formats[tensor.type], tensor.dimensions.count == 2, let (bytes, owner) = file.mappedBytes(of: tensor),
              let matrix = try? QuantizedMatrix(format: format, rows: tensor.dimensions[1], columns: tensor.dimensions[0],
                                                borrowing: bytes, keepingAlive: owner) else { continue }
        _ = matrix.dequantized()
        _ = Tensor.matmul(Tensor.ones([2, matrix.columns]), matrix, transposeW: true)
        _ = Tensor.matmul(Tensor.ones([7, matrix.rows]), matrix, transposeW: false)
    }
    return 0
}
