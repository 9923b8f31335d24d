import Foundation
import PEFTKit

/// The input written to a file and opened the way loaders open model files (memory-mapped).
let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-safetensors-\(getpid()).safetensors")

/// A safetensors file, memory-mapped like a loader opens it: header JSON, offsets, conversion of
/// every tensor to Float, and F32 tensors used in place (borrowed from the mapping).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard (try? Data(bytes: start, count: count).write(to: scratch)) != nil,
          let file = try? SafetensorsFile(contentsOf: scratch) else { return 0 }
    for tensor in file.tensors {
        guard let values = try? file.floats(of: tensor) else { continue }
        if let (elements, owner) = file.mappedFloat32Elements(of: tensor) {
            let borrowed = Tensor(storage: TensorStorage(borrowing: elements, keepingAlive: owner), shape: [elements.count])
            precondition(borrowed.toArray().elementsEqual(values) { $0.bitPattern == $1.bitPattern }, "borrowed and converted values differ")
        }
    }
    return 0
}
