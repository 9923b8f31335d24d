import Foundation

/// Why a model file could not be read. Every case names the offset or item at fault.
public enum ModelFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case unreadable(path: String, reason: String)
    /// A file could not be written (the previous file, if any, is left intact).
    case unwritable(path: String, reason: String)
    /// Fewer bytes remain than a field needs.
    case truncated(offset: Int, needed: Int, available: Int, what: String)
    /// The file does not start with the format's magic bytes.
    case badMagic(found: [UInt8])
    /// A format version this reader does not handle.
    case unsupportedVersion(UInt32)
    /// A value type or tensor type code that is not defined.
    case unknownType(code: UInt32, what: String)
    /// A count or length that cannot be right (larger than the bytes left, negative, overflowing).
    case invalidLength(value: UInt64, what: String)
    /// A structural rule is broken (duplicate names, bad alignment, misplaced offsets…).
    case invalidStructure(String)
    /// A string is not valid UTF-8.
    case invalidUTF8(what: String)
    /// A required metadata key is absent or has the wrong type.
    case missingMetadata(key: String)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .unwritable(path, reason): return "cannot write \(path): \(reason)"
        case let .truncated(offset, needed, available, what):
            return "truncated file: \(what) at byte \(offset) needs \(needed) bytes, \(available) left"
        case let .badMagic(found): return "not a GGUF file (magic \(found.map { String(format: "%02x", $0) }.joined(separator: " ")))"
        case let .unsupportedVersion(version): return "unsupported GGUF version \(version) (2 and 3 are supported)"
        case let .unknownType(code, what): return "unknown type code \(code) for \(what)"
        case let .invalidLength(value, what): return "invalid length \(value) for \(what)"
        case let .invalidStructure(message): return message
        case let .invalidUTF8(what): return "\(what) is not valid UTF-8"
        case let .missingMetadata(key): return "missing or mistyped metadata '\(key)'"
        }
    }
}

/// A bounds-checked little-endian cursor over raw bytes. Every read checks the bytes remaining first,
/// so hostile lengths fail before any allocation.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    func require(_ count: Int, _ what: String) throws {
        guard count >= 0, count <= remaining else {
            throw ModelFileError.truncated(offset: offset, needed: count, available: remaining, what: what)
        }
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        try require(MemoryLayout<T>.size, what)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + MemoryLayout<T>.size)])) }
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat(_ what: String) throws -> Float { Float(bitPattern: try read(UInt32.self, what)) }
    mutating func readDouble(_ what: String) throws -> Double { Double(bitPattern: try read(UInt64.self, what)) }

    /// A length-prefixed (u64) UTF-8 string, bounded by the bytes left.
    mutating func readString(_ what: String) throws -> String {
        let length = try read(UInt64.self, "\(what) length")
        guard length <= UInt64(remaining) else { throw ModelFileError.invalidLength(value: length, what: what) }
        let count = Int(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        guard let string = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw ModelFileError.invalidUTF8(what: what)
        }
        offset += count
        return string
    }
}
