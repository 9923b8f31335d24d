import ModelIO
import Tensors

extension Tensor {
    /// Smallest F32 tensor, in bytes, that loaders use in place in a mapped file (1 MiB); smaller
    /// ones are copied. The kernel maps file pages in blocks of up to 2 MB (large folios), so a
    /// small borrowed tensor — a norm's weight of a few kB — would keep a whole block of the
    /// file resident beside the converted weights; copying it costs nothing worth counting.
    public static let minimumBorrowedByteCount = 1 << 20

    /// A floating-point tensor of a safetensors file. F32 data of a file mapped from disk are used in
    /// place when they take at least ``minimumBorrowedByteCount`` bytes (the tensor borrows them and
    /// keeps the mapping alive; see ``TensorStorage/Kind/borrowed``); smaller ones, F16, BF16, F64
    /// and unaligned data are converted into owned storage.
    /// - Throws: `ModelFileError.invalidStructure` for integer dtypes.
    public static func loading(_ tensor: SafetensorsTensorInfo, from file: SafetensorsFile) throws -> Tensor {
        if let (elements, owner) = file.mappedFloat32Elements(of: tensor), elements.count * 4 >= minimumBorrowedByteCount {
            return Tensor(storage: TensorStorage(borrowing: elements, keepingAlive: owner), shape: tensor.shape)
        }
        return Tensor(try file.floats(of: tensor), shape: tensor.shape)
    }

    /// A tensor of a GGUF file in `shape` (GGUF lists dimensions innermost first; the caller passes
    /// them outermost first). F32 data of a file mapped from disk are used in place when they take at
    /// least ``minimumBorrowedByteCount`` bytes; smaller ones are copied and other types dequantized
    /// into owned storage.
    /// - Throws: `ModelFileError` when the type has no dequantizer, `ModelFileError.invalidStructure` when
    ///   `shape` does not hold the tensor's element count.
    public static func loading(_ tensor: GGUFTensorInfo, from file: GGUFFile, shape: [Int]) throws -> Tensor {
        guard Shape.checkedElementCount(shape) == tensor.elementCount else {
            throw ModelFileError.invalidStructure("shape \(shape) does not hold the \(tensor.elementCount) elements of GGUF tensor '\(tensor.name)'")
        }
        if let (elements, owner) = file.mappedFloat32Elements(of: tensor), elements.count * 4 >= minimumBorrowedByteCount {
            return Tensor(storage: TensorStorage(borrowing: elements, keepingAlive: owner), shape: shape)
        }
        return Tensor(try file.floats(of: tensor), shape: shape)
    }

    /// An F32 safetensors entry holding this tensor's shape and elements.
    public func safetensorsEntry(named name: String) -> SafetensorsWriter.Entry {
        withUnsafeBufferPointer { SafetensorsWriter.Entry(name: name, shape: shape, floats: $0) }
    }
}
