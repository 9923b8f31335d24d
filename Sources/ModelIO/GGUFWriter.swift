import Foundation

/// Writes GGUF files (version 3), the format llama.cpp and Ollama load: metadata key/value pairs,
/// a tensor directory, and the tensors' data, each aligned to `general.alignment` (32 unless the
/// metadata says otherwise). The file is written atomically (`AtomicFile`).
///
/// Dimensions are given in PyTorch order (`[out, in]`) and written in GGUF's (`[in, out]`).
public struct GGUFWriter {
    /// One tensor: its name, PyTorch-order shape, element type and encoded bytes.
    public struct Tensor: Sendable {
        /// The tensor's GGUF name (`blk.0.attn_q.weight`).
        public var name: String
        /// The dimensions in PyTorch order (`[out, in]`).
        public var shape: [Int]
        /// The encoding of `bytes`.
        public var type: GGUFTensorType
        /// The encoded elements (`type`'s blocks, little-endian).
        public var bytes: Data

        /// A tensor of encoded bytes.
        public init(name: String, shape: [Int], type: GGUFTensorType, bytes: Data) {
            self.name = name
            self.shape = shape
            self.type = type
            self.bytes = bytes
        }

        /// A float32 tensor.
        public init(name: String, shape: [Int], floats: [Float]) {
            var data = Data(capacity: floats.count * 4)
            for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            self.init(name: name, shape: shape, type: .f32, bytes: data)
        }

        /// A float16 tensor (values rounded to nearest even).
        public init(name: String, shape: [Int], halfFloats floats: [Float]) {
            var data = Data(capacity: floats.count * 2)
            for value in floats { withUnsafeBytes(of: HalfPrecision.half(from: value).littleEndian) { data.append(contentsOf: $0) } }
            self.init(name: name, shape: shape, type: .f16, bytes: data)
        }
    }

    /// Metadata in the order it is written.
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    /// Tensors in the order they are written.
    public private(set) var tensors: [Tensor] = []

    /// An empty file.
    public init() {}

    /// Sets `key` (replacing an earlier value of the same key).
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.key == key }) { metadata[index].value = value } else { metadata.append((key, value)) }
    }

    /// Adds a tensor.
    public mutating func add(_ tensor: Tensor) { tensors.append(tensor) }

    /// The alignment of the data section and of each tensor.
    var alignment: Int { metadata.first { $0.key == "general.alignment" }?.value.integer ?? 32 }

    /// The file's bytes.
    /// - Throws: `ModelFileError.invalidStructure` for duplicate names, a shape whose element count is
    ///   not a whole number of the type's blocks, or bytes that do not fit the shape.
    public func encode() throws -> Data {
        var seen = Set<String>()
        for tensor in tensors {
            guard seen.insert(tensor.name).inserted else { throw ModelFileError.invalidStructure("duplicate tensor name '\(tensor.name)'") }
            let count = tensor.shape.reduce(1, *), block = tensor.type.block
            guard tensor.shape.allSatisfy({ $0 > 0 }), count % block.elements == 0, tensor.bytes.count == count / block.elements * block.bytes else {
                throw ModelFileError.invalidStructure("tensor '\(tensor.name)': \(tensor.bytes.count) bytes for shape \(tensor.shape) of \(tensor.type)")
            }
        }
        let alignment = self.alignment
        var out = Data()
        out.append(contentsOf: Array("GGUF".utf8))
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(metadata.count), to: &out)
        for (key, value) in metadata {
            Self.append(string: key, to: &out)
            Self.append(value, to: &out)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset += (tensor.bytes.count + alignment - 1) / alignment * alignment
        }
        for (tensor, offset) in zip(tensors, offsets) {
            Self.append(string: tensor.name, to: &out)
            Self.append(UInt32(tensor.shape.count), to: &out)
            for dimension in tensor.shape.reversed() { Self.append(UInt64(dimension), to: &out) }
            Self.append(tensor.type.rawValue, to: &out)
            Self.append(UInt64(offset), to: &out)
        }
        Self.pad(&out, to: alignment)
        for tensor in tensors {
            out.append(tensor.bytes)
            Self.pad(&out, to: alignment)
        }
        return out
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws { try AtomicFile.write(try encode(), to: url) }

    private static func pad(_ data: inout Data, to alignment: Int) {
        let remainder = data.count % alignment
        if remainder != 0 { data.append(contentsOf: [UInt8](repeating: 0, count: alignment - remainder)) }
    }

    private static func append<Integer: FixedWidthInteger>(_ value: Integer, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    private static func append(string: String, to data: inout Data) {
        let bytes = Array(string.utf8)
        append(UInt64(bytes.count), to: &data)
        data.append(contentsOf: bytes)
    }

    /// GGUF's value type codes.
    private static func typeCode(_ value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }

    private static func append(_ value: GGUFValue, to data: inout Data) {
        append(typeCode(value), to: &data)
        appendPayload(value, to: &data)
    }

    private static func appendPayload(_ value: GGUFValue, to data: inout Data) {
        switch value {
        case let .uint8(v): append(v, to: &data)
        case let .int8(v): append(v, to: &data)
        case let .uint16(v): append(v, to: &data)
        case let .int16(v): append(v, to: &data)
        case let .uint32(v): append(v, to: &data)
        case let .int32(v): append(v, to: &data)
        case let .uint64(v): append(v, to: &data)
        case let .int64(v): append(v, to: &data)
        case let .float32(v): append(v.bitPattern, to: &data)
        case let .float64(v): append(v.bitPattern, to: &data)
        case let .bool(v): append(UInt8(v ? 1 : 0), to: &data)
        case let .string(v): append(string: v, to: &data)
        case let .array(array): append(array, to: &data)
        }
    }

    private static func append(_ array: GGUFArray, to data: inout Data) {
        func elements<T>(_ code: UInt32, _ items: [T], _ write: (T) -> Void) {
            append(code, to: &data)
            append(UInt64(items.count), to: &data)
            items.forEach(write)
        }
        switch array {
        case let .uint8(a): elements(0, a) { append($0, to: &data) }
        case let .int8(a): elements(1, a) { append($0, to: &data) }
        case let .uint16(a): elements(2, a) { append($0, to: &data) }
        case let .int16(a): elements(3, a) { append($0, to: &data) }
        case let .uint32(a): elements(4, a) { append($0, to: &data) }
        case let .int32(a): elements(5, a) { append($0, to: &data) }
        case let .float32(a): elements(6, a) { append($0.bitPattern, to: &data) }
        case let .bool(a): elements(7, a) { append(UInt8($0 ? 1 : 0), to: &data) }
        case let .string(a): elements(8, a) { append(string: $0, to: &data) }
        case let .array(a): elements(9, a) { append($0, to: &data) }
        case let .uint64(a): elements(10, a) { append($0, to: &data) }
        case let .int64(a): elements(11, a) { append($0, to: &data) }
        case let .float64(a): elements(12, a) { append($0.bitPattern, to: &data) }
        }
    }
}
