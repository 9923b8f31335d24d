import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory, unmapped when the last reference to it goes.
///
/// Model files are opened this way so that nothing is read until it is used, and so that float32
/// weights can be used in place: a tensor may borrow its elements from the mapping (see
/// `SafetensorsFile.mappedFloat32Elements(of:)`) and keep the mapping alive for as long as it lives.
/// The mapping is private and read-only; replacing the file on disk by renaming a new one over it
/// (as every writer in PEFTKit does) leaves the mapped bytes intact.
public final class FileMapping: @unchecked Sendable {
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer
    /// The path the file was opened at.
    public let path: String

    /// Maps the regular file at `url`.
    /// - Throws: `ModelFileError.unreadable` naming the path when it cannot be opened, is not a
    ///   regular file, or cannot be mapped.
    public init(url: URL) throws {
        path = url.path
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError.unreadable(path: url.path, reason: Self.systemError()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ModelFileError.unreadable(path: url.path, reason: Self.systemError()) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFileError.unreadable(path: url.path, reason: (status.st_mode & S_IFMT) == S_IFDIR ? "is a directory" : "not a regular file")
        }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw ModelFileError.unreadable(path: url.path, reason: "cannot map \(size) bytes: \(Self.systemError())")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// The bytes as `Data`, without copying; the `Data` keeps this mapping alive.
    public var data: Data {
        guard let base = bytes.baseAddress else { return Data() }
        return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count,
                    deallocator: .custom { _, _ in withExtendedLifetime(self) {} })
    }

    /// Tells the kernel this process no longer needs the pages it has read so far. The bytes stay
    /// valid: the next access reads them again from the page cache (or the disk). Loaders call this
    /// when they are done, so that pages they converted or copied into owned memory stop counting in
    /// the resident size a second time; borrowed weights come back as they are used.
    public func evictResidentPages() {
        guard let base = bytes.baseAddress else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), bytes.count, MADV_DONTNEED)
    }

    /// `count` little-endian floats at byte `offset`, or nil when the host is big-endian, the
    /// address is not 4-byte aligned or the range does not lie inside the file.
    func float32Elements(at offset: Int, count: Int) -> (elements: UnsafeBufferPointer<Float>, owner: FileMapping)? {
        guard Int(littleEndian: 1) == 1, let base = bytes.baseAddress, offset >= 0, count >= 0,
              offset <= bytes.count, count <= (bytes.count - offset) / MemoryLayout<Float>.stride else { return nil }
        let address = base + offset
        guard Int(bitPattern: address) % MemoryLayout<Float>.alignment == 0 else { return nil }
        return (UnsafeBufferPointer(start: address.bindMemory(to: Float.self, capacity: count), count: count), self)
    }

    private static func systemError() -> String { String(cString: strerror(errno)) }
}
