import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a file so that an interruption or a write error never leaves a complete file replaced by
/// an incomplete one.
///
/// - A new path or an existing regular file is written to a hidden sibling (`.name.UUID.tmp`),
///   flushed, and renamed over the target: readers see the old file or the new one, and the old
///   file's permissions are kept.
/// - A symbolic link is followed: its target is replaced, the link stays.
/// - A device, FIFO or socket is written through, as a shell redirection would; the process's own
///   descriptors (`/dev/stdout`, `/dev/fd/N`) are written at their offset, whatever they lead to.
/// - A folder is refused.
///
/// Every failure is a `ModelFileError.unwritable` naming the file and the system's reason; a
/// temporary file is removed before the error is thrown.
public enum AtomicFile {
    /// Writes `data` to `url` (see the type's rules).
    public static func write(_ data: Data, to url: URL) throws {
        try writeAll([(data, url)])
    }

    /// Writes several files that belong together: every regular file is staged (written and
    /// flushed) before any is renamed into place, so a write error leaves all of them as they were.
    public static func writeAll(_ files: [(data: Data, url: URL)]) throws {
        var staged: [(temporary: URL, target: URL)] = []
        do {
            for (data, url) in files {
                switch try destination(of: url) {
                case let .writeThrough(target):
                    try writeThrough(data, to: target)
                case let .descriptor(descriptor):
                    try writeBytes(data, to: descriptor, target: url)
                case let .replace(target, mode):
                    let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
                    staged.append((temporary, target))
                    try writeNewFile(data, at: temporary, mode: mode, target: target)
                }
            }
            for (temporary, target) in staged {
                guard rename(temporary.path, target.path) == 0 else { throw ModelFileError.unwritable(path: target.path, reason: systemReason()) }
            }
        } catch {
            for (temporary, _) in staged { unlink(temporary.path) }
            throw error
        }
    }

    /// Appends `data` to `url` (created when absent). On a write error the file is cut back to its
    /// previous length, so no partial record stays behind.
    public static func append(_ data: Data, to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else { throw ModelFileError.unwritable(path: url.path, reason: systemReason()) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ModelFileError.unwritable(path: url.path, reason: systemReason()) }
        do {
            try writeBytes(data, to: descriptor, target: url)
        } catch {
            if info.st_mode & S_IFMT == S_IFREG { _ = ftruncate(descriptor, info.st_size) }
            throw error
        }
    }

    /// Where the bytes for `url` go.
    enum Destination {
        /// Replace this regular file, giving the new one its `mode`, or create it (`mode` nil).
        case replace(URL, mode: mode_t?)
        /// Write into this device, FIFO or socket.
        case writeThrough(URL)
        /// Write into this open descriptor of the process (`/dev/stdout`, `/dev/fd/3`): at its
        /// offset, as a shell redirection sees it, never truncating or replacing what it leads to.
        case descriptor(Int32)
    }

    /// The process's own descriptor a path names: `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`,
    /// `/proc/self/fd/N`.
    static func ownDescriptor(_ path: String) -> Int32? {
        switch path {
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/", "/proc/\(getpid())/fd/"] where path.hasPrefix(prefix) {
                return Int32(path.dropFirst(prefix.count))
            }
            return nil
        }
    }

    /// Follows symbolic links from `url` (at most 40) to what will be written.
    static func destination(of url: URL) throws -> Destination {
        if let descriptor = ownDescriptor(url.path), fcntl(descriptor, F_GETFD) != -1 { return .descriptor(descriptor) }
        // What the path leads to, links followed by the kernel: a device, FIFO or socket is opened
        // through the path itself (so /dev/stdout → /proc/self/fd/1 → a pipe works).
        var target = stat()
        if stat(url.path, &target) == 0 {
            switch target.st_mode & S_IFMT {
            case S_IFDIR: throw ModelFileError.unwritable(path: url.path, reason: "it is a folder; give a file path")
            case S_IFREG: break
            default: return .writeThrough(url)
            }
        }
        var path = url.path
        for _ in 0..<40 {
            var info = stat()
            guard lstat(path, &info) == 0 else {
                guard errno == ENOENT else { throw ModelFileError.unwritable(path: path, reason: systemReason()) }
                return .replace(URL(fileURLWithPath: path), mode: nil)
            }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
                path = target.hasPrefix("/") ? target : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(target).path
            case S_IFREG:
                return .replace(URL(fileURLWithPath: path), mode: info.st_mode & 0o7777)
            case S_IFDIR:
                throw ModelFileError.unwritable(path: url.path, reason: "it is a folder; give a file path")
            default:
                return .writeThrough(URL(fileURLWithPath: path))
            }
        }
        throw ModelFileError.unwritable(path: url.path, reason: "too many levels of symbolic links")
    }

    /// Creates `temporary` (exclusively), writes and flushes `data`.
    static func writeNewFile(_ data: Data, at temporary: URL, mode: mode_t?, target: URL) throws {
        // A new file gets 0666 less the umask (open(2) applies it); a replaced one keeps its mode.
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard descriptor >= 0 else { throw ModelFileError.unwritable(path: target.path, reason: systemReason()) }
        defer { close(descriptor) }
        if let mode { _ = fchmod(descriptor, mode) }
        try writeBytes(data, to: descriptor, target: target)
        guard fsync(descriptor) == 0 else { throw ModelFileError.unwritable(path: target.path, reason: systemReason()) }
    }

    /// Writes `data` into an existing device, FIFO or socket.
    static func writeThrough(_ data: Data, to target: URL) throws {
        let descriptor = open(target.path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelFileError.unwritable(path: target.path, reason: systemReason()) }
        defer { close(descriptor) }
        try writeBytes(data, to: descriptor, target: target)
    }

    /// Writes all of `data` into `target`'s descriptor, retrying short writes and interruptions;
    /// an injected fault (`WriteFaults`) stops it like the real error would. Errors name `target`
    /// (the file a symbolic link leads to), never a temporary name.
    static func writeBytes(_ data: Data, to descriptor: Int32, target: URL) throws {
        let fault = WriteFaults.fault(for: target)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            // An injected fault lets `afterBytes` through, then fails as the real error would (an
            // empty write cannot run out of space).
            let limit = fault.map { min($0.afterBytes, raw.count) } ?? raw.count
            var offset = 0
            while offset < limit {
                let written = systemWrite(descriptor, raw.baseAddress! + offset, min(limit - offset, 1 << 30))
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ModelFileError.unwritable(path: target.path, reason: systemReason())
                }
                offset += written
            }
            if let fault, raw.count > 0 { throw ModelFileError.unwritable(path: target.path, reason: String(cString: strerror(fault.code))) }
        }
    }

    static func systemReason() -> String { String(cString: strerror(errno)) }
}

/// write(2), under a name the type's own `write` does not hide.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, bytes, count)
    #else
    Darwin.write(descriptor, bytes, count)
    #endif
}

/// Write errors made on purpose, so tests can prove that every writer reports a full disk or an I/O
/// error by file name and leaves complete files as they were. Faults apply only to files under the
/// folder they name, so tests running side by side do not disturb each other.
@_spi(Testing)
public enum WriteFaults {
    /// One injected fault.
    public struct Fault: Sendable {
        /// The `errno` the write fails with (`ENOSPC`, `EIO`, …).
        public var code: Int32
        /// Files under this folder fail.
        public var folder: String
        /// Only files of this name fail (nil: all).
        public var fileName: String?
        /// Bytes written before the failure (a partial write).
        public var afterBytes: Int
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var active: [UUID: Fault] = [:]

    /// Runs `body` with writes of files under `folder` (named `fileName`, when given) failing with
    /// `code` after `afterBytes` bytes.
    public static func injecting<Result>(_ code: Int32, under folder: URL, named fileName: String? = nil, afterBytes: Int = 0,
                                         _ body: () throws -> Result) rethrows -> Result {
        let key = UUID()
        let fault = Fault(code: code, folder: folder.standardizedFileURL.resolvingSymlinksInPath().path, fileName: fileName, afterBytes: afterBytes)
        lock.withLock { active[key] = fault }
        defer { _ = lock.withLock { active.removeValue(forKey: key) } }
        return try body()
    }

    /// The fault that applies to writing `url`, if any.
    static func fault(for url: URL) -> Fault? {
        let faults = lock.withLock { active }
        guard !faults.isEmpty else { return nil }
        let path = url.standardizedFileURL.resolvingSymlinksInPath().path
        return faults.values.first { fault in
            (path.hasPrefix(fault.folder + "/")) && (fault.fileName.map { $0 == url.lastPathComponent } ?? true)
        }
    }
}
