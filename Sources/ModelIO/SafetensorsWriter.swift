import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes safetensors files: header padded with spaces to a multiple of 8, tensors laid out in the
/// given order, optional `__metadata__`, written atomically (temporary sibling file, then rename) so
/// an existing file is never left half-written.
public enum SafetensorsWriter {
    /// One tensor to write: its raw little-endian bytes must hold `prod(shape)` elements of `dtype`.
    public struct Entry: Sendable {
        /// The tensor's name.
        public var name: String
        /// The element type.
        public var dtype: SafetensorsDType
        /// The dimensions.
        public var shape: [Int]
        /// The little-endian element bytes.
        public var bytes: Data

        /// An entry of raw bytes (their count must fit the dtype and shape).
        public init(name: String, dtype: SafetensorsDType, shape: [Int], bytes: Data) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An F32 entry from Float values (an array, or a tensor's buffer pointer).
        public init<Floats: Collection<Float>>(name: String, shape: [Int], floats: Floats) {
            var data = Data(capacity: floats.count * 4)
            // Contiguous floats on a little-endian host are the file's bytes already: one copy.
            let appended: Void? = Int(littleEndian: 1) == 1 ? floats.withContiguousStorageIfAvailable { data.append($0) } : nil
            if appended == nil {
                for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            }
            self.init(name: name, dtype: .f32, shape: shape, bytes: data)
        }
    }

    /// The encoded file.
    /// - Throws: `ModelFileError.invalidStructure` for duplicate names or byte counts that do not match shapes.
    public static func encode(_ entries: [Entry], metadata: [String: String] = [:]) throws -> Data {
        var seen = Set<String>()
        var header: [(key: String, value: JSONValue)] = []
        if !metadata.isEmpty {
            header.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })))
        }
        var offset = 0
        for entry in entries {
            guard entry.name != "__metadata__", seen.insert(entry.name).inserted else {
                throw ModelFileError.invalidStructure("duplicate or reserved tensor name '\(entry.name)'")
            }
            let expected = entry.shape.reduce(1, *) * entry.dtype.size
            guard entry.shape.allSatisfy({ $0 >= 0 }), entry.bytes.count == expected else {
                throw ModelFileError.invalidStructure("tensor '\(entry.name)': \(entry.bytes.count) bytes for shape \(entry.shape) of \(entry.dtype.rawValue) (needs \(expected))")
            }
            header.append((entry.name, .object([
                ("dtype", .string(entry.dtype.rawValue)),
                ("shape", .array(entry.shape.map { .number(Double($0)) })),
                ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + entry.bytes.count))])),
            ])))
            offset += entry.bytes.count
        }
        var json = Array(JSONValue.object(header).serialized().utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: json)
        for entry in entries { data.append(entry.bytes) }
        return data
    }

    /// Encodes and writes atomically to `url`.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(try encode(entries, metadata: metadata), to: url)
    }
}
