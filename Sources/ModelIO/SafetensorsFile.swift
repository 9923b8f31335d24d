import Foundation

/// Element types of safetensors.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    /// Floating-point element types.
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    /// Signed integer element types.
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    /// Unsigned integer and boolean element types.
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor's name.
    public var name: String
    /// The element type.
    public var dtype: SafetensorsDType
    /// The dimensions.
    public var shape: [Int]
    /// Byte range within the data buffer (after the header).
    public var dataRange: Range<Int>
    /// Elements (product of the dimensions).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed safetensors file: header entries and the memory-mapped data buffer.
///
/// Validation follows the format's rules: header length bounded (≤ 100 MB) and inside the file, UTF-8
/// JSON, known dtypes, no duplicate names, overflow-checked `prod(shape) · size` equal to each byte
/// range, and ranges that tile the buffer exactly (no gaps, overlaps or trailing bytes).
public struct SafetensorsFile: Sendable {
    /// Largest header accepted.
    public static let maximumHeaderSize = 100_000_000

    /// Tensor entries in header order.
    public let tensors: [SafetensorsTensorInfo]
    /// `__metadata__` strings.
    public let metadata: [String: String]
    /// The whole file.
    public let data: Data
    /// Offset of the data buffer within the file.
    public let dataOffset: Int
    /// The mapping behind `data` when the file was read from disk.
    public let mapping: FileMapping?
    private let index: [String: Int]

    /// Maps and validates the file at `url`.
    public init(contentsOf url: URL) throws {
        let mapping = try FileMapping(url: url)
        try self.init(data: mapping.data, mapping: mapping)
    }

    /// Validates safetensors bytes.
    public init(data: Data) throws {
        try self.init(data: data, mapping: nil)
    }

    private init(data: Data, mapping: FileMapping?) throws {
        self.data = data
        self.mapping = mapping
        guard data.count >= 8 else { throw ModelFileError.truncated(offset: 0, needed: 8, available: data.count, what: "header length") }
        let headerLength = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian }
        guard headerLength <= UInt64(SafetensorsFile.maximumHeaderSize) else {
            throw ModelFileError.invalidLength(value: headerLength, what: "safetensors header (limit \(SafetensorsFile.maximumHeaderSize) bytes)")
        }
        guard headerLength <= UInt64(data.count - 8) else {
            throw ModelFileError.truncated(offset: 8, needed: Int(headerLength), available: data.count - 8, what: "safetensors header")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard String(data: headerData, encoding: .utf8) != nil else { throw ModelFileError.invalidUTF8(what: "safetensors header") }
        let header: JSONValue
        do { header = try JSONValue.parse(headerData) } catch let error as JSONParseError {
            throw ModelFileError.invalidStructure("safetensors header is not valid JSON: \(error)")
        }
        guard let members = header.members else { throw ModelFileError.invalidStructure("safetensors header is not a JSON object") }
        dataOffset = 8 + Int(headerLength)
        let bufferSize = data.count - dataOffset

        var tensors: [SafetensorsTensorInfo] = []
        var metadata: [String: String] = [:]
        var seen = Set<String>()
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw ModelFileError.invalidStructure("duplicate tensor name '\(name)' in safetensors header") }
            if name == "__metadata__" {
                guard let entries = value.members else { throw ModelFileError.invalidStructure("__metadata__ must be an object of strings") }
                for (key, item) in entries {
                    guard let text = item.string else { throw ModelFileError.invalidStructure("__metadata__['\(key)'] is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let dtypeName = value["dtype"]?.string else { throw ModelFileError.invalidStructure("tensor '\(name)' has no dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw ModelFileError.invalidStructure("tensor '\(name)' has unknown dtype '\(dtypeName)'")
            }
            guard let shapeValues = value["shape"]?.array else { throw ModelFileError.invalidStructure("tensor '\(name)' has no shape") }
            var shape: [Int] = []
            var elements = 1
            for dimension in shapeValues {
                guard let size = dimension.integer, size >= 0 else {
                    throw ModelFileError.invalidStructure("tensor '\(name)' has an invalid dimension \(dimension.serialized())")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow else { throw ModelFileError.invalidStructure("element count of '\(name)' overflows") }
                elements = product
                shape.append(size)
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
            guard !overflow else { throw ModelFileError.invalidStructure("byte size of '\(name)' overflows") }
            guard let offsets = value["data_offsets"]?.array, offsets.count == 2,
                  let begin = offsets[0].integer, let end = offsets[1].integer, begin >= 0, end >= begin else {
                throw ModelFileError.invalidStructure("tensor '\(name)' has invalid data_offsets")
            }
            guard end - begin == bytes else {
                throw ModelFileError.invalidStructure("tensor '\(name)': data_offsets span \(end - begin) bytes, shape \(shape) of \(dtypeName) needs \(bytes)")
            }
            guard end <= bufferSize else {
                throw ModelFileError.truncated(offset: dataOffset + begin, needed: bytes, available: max(0, bufferSize - begin), what: "data of '\(name)'")
            }
            tensors.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end))
        }
        // The ranges, sorted, must tile the buffer exactly.
        var position = 0
        for tensor in tensors.sorted(by: { ($0.dataRange.lowerBound, $0.dataRange.upperBound) < ($1.dataRange.lowerBound, $1.dataRange.upperBound) }) {
            guard tensor.dataRange.lowerBound == position else {
                throw ModelFileError.invalidStructure(tensor.dataRange.lowerBound > position
                    ? "gap in the data buffer before '\(tensor.name)' (bytes \(position)..<\(tensor.dataRange.lowerBound))"
                    : "tensor '\(tensor.name)' overlaps the previous tensor at byte \(tensor.dataRange.lowerBound)")
            }
            position = tensor.dataRange.upperBound
        }
        guard position == bufferSize else {
            throw ModelFileError.invalidStructure("data buffer has \(bufferSize - position) bytes not covered by any tensor")
        }
        self.tensors = tensors
        self.metadata = metadata
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    /// The entry named `name`, if present.
    public func tensor(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// Raw bytes of a tensor.
    public func bytes(of tensor: SafetensorsTensorInfo) -> Data {
        data.subdata(in: (dataOffset + tensor.dataRange.lowerBound)..<(dataOffset + tensor.dataRange.upperBound))
    }

    /// An F32 tensor's elements where they lie in the mapped file, with the mapping that keeps them
    /// valid; nil when the tensor is not F32, the file was not mapped from disk, the host is not
    /// little-endian or the data are not 4-byte aligned (then read it with `floats(of:)`).
    public func mappedFloat32Elements(of tensor: SafetensorsTensorInfo) -> (elements: UnsafeBufferPointer<Float>, owner: FileMapping)? {
        guard tensor.dtype == .f32, let mapping else { return nil }
        return mapping.float32Elements(at: dataOffset + tensor.dataRange.lowerBound, count: tensor.elementCount)
    }

    /// A floating-point tensor's values as Float (F32 copied, F16/BF16/F64 converted).
    /// - Throws: `ModelFileError.invalidStructure` for integer dtypes.
    public func floats(of tensor: SafetensorsTensorInfo) throws -> [Float] {
        let count = tensor.elementCount
        return try data.withUnsafeBytes { raw -> [Float] in
            let base = raw.baseAddress! + dataOffset + tensor.dataRange.lowerBound
            switch tensor.dtype {
            case .f32:
                return (0..<count).map { Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            case .f16:
                return (0..<count).map { HalfPrecision.float(fromHalf: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) }
            case .bf16:
                return (0..<count).map { HalfPrecision.float(fromBFloat16: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) }
            case .f64:
                return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))) }
            default:
                throw ModelFileError.invalidStructure("tensor '\(tensor.name)' has integer dtype \(tensor.dtype.rawValue); read it with integers(of:)")
            }
        }
    }

    /// An integer (or boolean) tensor's values as Int.
    /// - Throws: `ModelFileError.invalidStructure` for floating-point dtypes.
    public func integers(of tensor: SafetensorsTensorInfo) throws -> [Int] {
        let count = tensor.elementCount
        return try data.withUnsafeBytes { raw -> [Int] in
            let base = raw.baseAddress! + dataOffset + tensor.dataRange.lowerBound
            func load<T: FixedWidthInteger>(_ type: T.Type) -> [Int] {
                (0..<count).map { Int(truncatingIfNeeded: T(littleEndian: base.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))) }
            }
            switch tensor.dtype {
            case .i64: return load(Int64.self)
            case .i32: return load(Int32.self)
            case .i16: return load(Int16.self)
            case .i8: return load(Int8.self)
            case .u64: return load(UInt64.self)
            case .u32: return load(UInt32.self)
            case .u16: return load(UInt16.self)
            case .u8, .bool: return load(UInt8.self)
            default:
                throw ModelFileError.invalidStructure("tensor '\(tensor.name)' has floating-point dtype \(tensor.dtype.rawValue); read it with floats(of:)")
            }
        }
    }
}
