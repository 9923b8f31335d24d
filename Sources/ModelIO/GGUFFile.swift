import Foundation

/// A metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    /// Integers up to 32 bits.
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    /// 64-bit integers, floats, booleans and strings.
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array, stored compactly by element type.
    case array(GGUFArray)

    /// The value as an integer, for any integer or boolean type.
    public var integer: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        case let .bool(v): return v ? 1 : 0
        default: return nil
        }
    }

    /// The value as a floating-point number, for numeric types.
    public var double: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return integer.map(Double.init)
        }
    }

    /// The string, if this is one.
    public var string: String? { if case let .string(s) = self { return s } else { return nil } }
    /// The boolean, if this is one.
    public var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    /// The array, if this is one.
    public var array: GGUFArray? { if case let .array(a) = self { return a } else { return nil } }
}

/// A GGUF metadata array kept as one typed Swift array (a 49,152-entry vocabulary is 49,152 strings,
/// not 49,152 boxed enum values; a hostile 98 MB `uint8` array costs 98 MB, not gigabytes).
public indirect enum GGUFArray: Sendable, Equatable {
    /// Arrays of small integers.
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    /// Arrays of wide integers, floats, booleans and strings.
    case uint64([UInt64]), int64([Int64]), float32([Float]), float64([Double]), bool([Bool]), string([String])
    /// An array of arrays.
    case array([GGUFArray])

    /// Number of elements.
    public var count: Int {
        switch self {
        case let .uint8(a): return a.count
        case let .int8(a): return a.count
        case let .uint16(a): return a.count
        case let .int16(a): return a.count
        case let .uint32(a): return a.count
        case let .int32(a): return a.count
        case let .uint64(a): return a.count
        case let .int64(a): return a.count
        case let .float32(a): return a.count
        case let .float64(a): return a.count
        case let .bool(a): return a.count
        case let .string(a): return a.count
        case let .array(a): return a.count
        }
    }

    /// The elements when the array holds strings.
    public var strings: [String]? { if case let .string(a) = self { return a } else { return nil } }

    /// The elements as integers when the array holds integers (nil if one does not fit an `Int`).
    public var integers: [Int]? {
        switch self {
        case let .uint8(a): return a.map(Int.init)
        case let .int8(a): return a.map(Int.init)
        case let .uint16(a): return a.map(Int.init)
        case let .int16(a): return a.map(Int.init)
        case let .uint32(a): return a.map(Int.init)
        case let .int32(a): return a.map(Int.init)
        case let .int64(a): return a.map(Int.init)
        case let .uint64(a): return a.allSatisfy { $0 <= UInt64(Int.max) } ? a.map { Int($0) } : nil
        case let .bool(a): return a.map { $0 ? 1 : 0 }
        default: return nil
        }
    }

    /// The elements as floating-point numbers when the array holds numbers.
    public var doubles: [Double]? {
        switch self {
        case let .float32(a): return a.map(Double.init)
        case let .float64(a): return a
        default: return integers?.map(Double.init)
        }
    }

    /// The element type's name, for messages.
    public var elementTypeName: String {
        switch self {
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .uint16: return "uint16"
        case .int16: return "int16"
        case .uint32: return "uint32"
        case .int32: return "int32"
        case .uint64: return "uint64"
        case .int64: return "int64"
        case .float32: return "float32"
        case .float64: return "float64"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        }
    }
}

/// Tensor element encodings of GGUF (ggml types).
public enum GGUFTensorType: UInt32, Sendable, CaseIterable {
    /// Floats and the 32-element block formats (ggml type codes).
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    /// The 256-element K-quant super-block formats.
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    /// Integers, double precision and bfloat16.
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// Elements per block and bytes per block.
    public var block: (elements: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 36)
        case .q2_K: return (256, 84)
        case .q3_K: return (256, 110)
        case .q4_K: return (256, 144)
        case .q5_K: return (256, 176)
        case .q6_K: return (256, 210)
        case .q8_K: return (256, 292)
        case .i8: return (1, 1)
        case .i16: return (1, 2)
        case .i32: return (1, 4)
        case .i64, .f64: return (1, 8)
        }
    }
}

/// One tensor's entry in the GGUF directory.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name (`blk.0.attn_q.weight`).
    public var name: String
    /// Dimensions in GGUF order: `dimensions[0]` varies fastest (a PyTorch `[out, in]` weight is `[in, out]`).
    public var dimensions: [Int]
    /// Element encoding.
    public var type: GGUFTensorType
    /// Byte offset of the data, relative to the start of the data section.
    public var offset: Int
    /// Number of elements.
    public var elementCount: Int
    /// Number of bytes of data.
    public var byteCount: Int
}

/// A parsed GGUF file (versions 2 and 3): metadata, tensor directory and the memory-mapped data.
///
/// Parsing is hardened against hostile files: every length is bounded by the bytes left, counts and
/// products are overflow-checked, types must be known, names unique, alignment a power of two, and
/// each tensor's offset must equal the running padded total, with all data inside the file.
public struct GGUFFile: Sendable {
    /// Whether the file at `url` starts with GGUF's magic bytes (whatever its name): how tools tell a
    /// GGUF model from a folder, a `tokenizer.json` or a dataset given by mistake.
    public static func hasMagic(_ url: URL) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    /// Format version (2 or 3).
    public let version: UInt32
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Tensor directory in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte offset of the data section within the file.
    public let dataOffset: Int
    /// The whole file (memory-mapped when read from disk).
    public let data: Data
    /// The mapping behind `data` when the file was read from disk.
    public let mapping: FileMapping?

    /// Maps and parses the file at `url`.
    public init(contentsOf url: URL) throws {
        let mapping = try FileMapping(url: url)
        try self.init(data: mapping.data, mapping: mapping)
    }

    /// Parses GGUF bytes.
    public init(data: Data) throws {
        try self.init(data: data, mapping: nil)
    }

    private init(data: Data, mapping: FileMapping?) throws {
        self.data = data
        self.mapping = mapping
        var parsed: (UInt32, [String], [String: GGUFValue], [GGUFTensorInfo], Int, Int)!
        try data.withUnsafeBytes { raw in parsed = try GGUFFile.parse(raw) }
        (version, metadataKeys, metadata, tensors, alignment, dataOffset) = parsed
    }

    /// Raw bytes of a tensor's data.
    public func bytes(of tensor: GGUFTensorInfo) -> Data {
        data.subdata(in: (dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount))
    }

    /// A tensor's data where they lie in the mapped file, with the mapping that keeps them valid; nil
    /// when the file was not mapped from disk, or for an entry whose data would lie outside this file
    /// (another file's tensor).
    public func mappedBytes(of tensor: GGUFTensorInfo) -> (bytes: UnsafeRawBufferPointer, owner: FileMapping)? {
        guard let mapping, let base = mapping.bytes.baseAddress, tensor.offset >= 0, tensor.byteCount >= 0,
              tensor.offset <= mapping.bytes.count - dataOffset,
              tensor.byteCount <= mapping.bytes.count - dataOffset - tensor.offset else { return nil }
        return (UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount), mapping)
    }

    /// An F32 tensor's elements where they lie in the mapped file, with the mapping that keeps them
    /// valid; nil when the tensor is not F32, the file was not mapped from disk, the host is not
    /// little-endian or the data are not 4-byte aligned (then read it with `floats(of:)`).
    public func mappedFloat32Elements(of tensor: GGUFTensorInfo) -> (elements: UnsafeBufferPointer<Float>, owner: FileMapping)? {
        guard tensor.type == .f32, let mapping else { return nil }
        return mapping.float32Elements(at: dataOffset + tensor.offset, count: tensor.elementCount)
    }

    static let maxArrayNesting = 8

    private static func parse(_ raw: UnsafeRawBufferPointer) throws -> (UInt32, [String], [String: GGUFValue], [GGUFTensorInfo], Int, Int) {
        var reader = ByteReader(raw)
        try reader.require(4, "magic")
        let magic = Array(raw[0..<4])
        guard magic == [0x47, 0x47, 0x55, 0x46] else { throw ModelFileError.badMagic(found: magic) }
        reader.offset = 4
        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw ModelFileError.unsupportedVersion(version) }
        let tensorCount = try reader.read(UInt64.self, "tensor count")
        let keyCount = try reader.read(UInt64.self, "metadata count")
        // Each key needs at least 12 bytes (length + type); each tensor at least 28.
        guard keyCount <= UInt64(reader.remaining / 12) else { throw ModelFileError.invalidLength(value: keyCount, what: "metadata count") }
        guard tensorCount <= UInt64(reader.remaining / 28) else { throw ModelFileError.invalidLength(value: tensorCount, what: "tensor count") }

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<Int(keyCount) {
            let key = try reader.readString("metadata key #\(index)")
            guard metadata[key] == nil else { throw ModelFileError.invalidStructure("duplicate metadata key '\(key)'") }
            let type = try reader.read(UInt32.self, "type of '\(key)'")
            metadata[key] = try readValue(&reader, type: type, key: key, depth: 0)
            keys.append(key)
        }

        var alignment = 32
        if let value = metadata["general.alignment"] {
            guard case let .uint32(a) = value, a > 0, a & (a - 1) == 0 else {
                throw ModelFileError.invalidStructure("general.alignment must be a non-zero power of two (u32), got \(value)")
            }
            alignment = Int(a)
        }

        var tensors: [GGUFTensorInfo] = []
        var names = Set<String>()
        for index in 0..<Int(tensorCount) {
            let name = try reader.readString("tensor name #\(index)")
            guard names.insert(name).inserted else { throw ModelFileError.invalidStructure("duplicate tensor name '\(name)'") }
            let rank = try reader.read(UInt32.self, "dimension count of '\(name)'")
            guard rank >= 1 && rank <= 4 else { throw ModelFileError.invalidStructure("tensor '\(name)' has \(rank) dimensions (1 to 4 allowed)") }
            var dimensions: [Int] = []
            var elements = 1
            for axis in 0..<Int(rank) {
                let size = try reader.read(UInt64.self, "dimension \(axis) of '\(name)'")
                guard size <= UInt64(Int64.max) else { throw ModelFileError.invalidLength(value: size, what: "dimension \(axis) of '\(name)'") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(size))
                guard !overflow else { throw ModelFileError.invalidStructure("element count of '\(name)' overflows") }
                elements = product
                dimensions.append(Int(size))
            }
            let code = try reader.read(UInt32.self, "type of '\(name)'")
            guard let type = GGUFTensorType(rawValue: code) else { throw ModelFileError.unknownType(code: code, what: "tensor '\(name)'") }
            let (blockElements, blockBytes) = type.block
            guard dimensions[0] % blockElements == 0 else {
                throw ModelFileError.invalidStructure("rows of '\(name)' (\(dimensions[0])) are not a multiple of the \(type) block size \(blockElements)")
            }
            let (bytes, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
            guard !overflow else { throw ModelFileError.invalidStructure("byte size of '\(name)' overflows") }
            let offset = try reader.read(UInt64.self, "offset of '\(name)'")
            guard offset <= UInt64(Int64.max) else { throw ModelFileError.invalidLength(value: offset, what: "offset of '\(name)'") }
            tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: Int(offset),
                                          elementCount: elements, byteCount: bytes))
        }

        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        var expected = 0
        for tensor in tensors {
            guard tensor.offset == expected else {
                throw ModelFileError.invalidStructure("tensor '\(tensor.name)' starts at data offset \(tensor.offset), expected \(expected)")
            }
            let (end, overflow) = expected.addingReportingOverflow(tensor.byteCount)
            guard !overflow else { throw ModelFileError.invalidStructure("data size overflows at '\(tensor.name)'") }
            expected = (end + alignment - 1) / alignment * alignment
            guard dataOffset <= raw.count, end <= raw.count - dataOffset else {
                throw ModelFileError.truncated(offset: dataOffset + tensor.offset, needed: tensor.byteCount,
                                               available: max(0, raw.count - dataOffset - tensor.offset), what: "data of '\(tensor.name)'")
            }
        }
        return (version, keys, metadata, tensors, alignment, dataOffset)
    }

    /// Reads `count` elements of one type into a typed array.
    private static func readArray(_ reader: inout ByteReader, elementType: UInt32, count: Int, key: String, depth: Int) throws -> GGUFArray {
        func many<T>(_ read: (inout ByteReader) throws -> T) throws -> [T] {
            var items: [T] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try read(&reader)) }
            return items
        }
        switch elementType {
        case 0: return .uint8(try many { try $0.read(UInt8.self, key) })
        case 1: return .int8(try many { try $0.read(Int8.self, key) })
        case 2: return .uint16(try many { try $0.read(UInt16.self, key) })
        case 3: return .int16(try many { try $0.read(Int16.self, key) })
        case 4: return .uint32(try many { try $0.read(UInt32.self, key) })
        case 5: return .int32(try many { try $0.read(Int32.self, key) })
        case 6: return .float32(try many { try $0.readFloat(key) })
        case 7:
            return .bool(try many { reader -> Bool in
                let byte = try reader.read(UInt8.self, key)
                guard byte <= 1 else { throw ModelFileError.invalidStructure("boolean in '\(key)' has value \(byte)") }
                return byte == 1
            })
        case 8: return .string(try many { try $0.readString("element of '\(key)'") })
        case 9:
            return .array(try many { reader -> GGUFArray in
                guard case let .array(inner) = try readValue(&reader, type: 9, key: key, depth: depth) else { preconditionFailure("array expected") }
                return inner
            })
        case 10: return .uint64(try many { try $0.read(UInt64.self, key) })
        case 11: return .int64(try many { try $0.read(Int64.self, key) })
        case 12: return .float64(try many { try $0.readDouble(key) })
        default: throw ModelFileError.unknownType(code: elementType, what: "elements of array '\(key)'")
        }
    }

    private static func readValue(_ reader: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try reader.read(UInt8.self, key))
        case 1: return .int8(try reader.read(Int8.self, key))
        case 2: return .uint16(try reader.read(UInt16.self, key))
        case 3: return .int16(try reader.read(Int16.self, key))
        case 4: return .uint32(try reader.read(UInt32.self, key))
        case 5: return .int32(try reader.read(Int32.self, key))
        case 6: return .float32(try reader.readFloat(key))
        case 7:
            let byte = try reader.read(UInt8.self, key)
            guard byte <= 1 else { throw ModelFileError.invalidStructure("boolean '\(key)' has value \(byte)") }
            return .bool(byte == 1)
        case 8: return .string(try reader.readString("value of '\(key)'"))
        case 9:
            guard depth < maxArrayNesting else { throw ModelFileError.invalidStructure("arrays nested deeper than \(maxArrayNesting) in '\(key)'") }
            let elementType = try reader.read(UInt32.self, "element type of '\(key)'")
            let count = try reader.read(UInt64.self, "element count of '\(key)'")
            // Every element takes at least one byte (strings and arrays at least eight).
            let minimumSize: UInt64 = [8, 9, 10, 11].contains(elementType) ? 8 : (elementType == 12 ? 8 : 1)
            guard count <= UInt64(reader.remaining) / minimumSize else { throw ModelFileError.invalidLength(value: count, what: "array '\(key)'") }
            return .array(try readArray(&reader, elementType: elementType, count: Int(count), key: key, depth: depth + 1))
        case 10: return .uint64(try reader.read(UInt64.self, key))
        case 11: return .int64(try reader.read(Int64.self, key))
        case 12: return .float64(try reader.readDouble(key))
        default: throw ModelFileError.unknownType(code: type, what: "metadata '\(key)'")
        }
    }
}
