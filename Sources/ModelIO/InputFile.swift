import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a whole input file with errors a person can act on: a missing path, a folder where a
/// file belongs, a file over the size limit and the system's own reason are each said in words,
/// never as a Foundation error code.
public enum InputFile {
    /// The bytes of `url` (memory-mapped when `mapped`).
    /// - Throws: `ModelFileError.unreadable` naming the path and the reason.
    public static func read(_ url: URL, maximumBytes: Int = .max, mapped: Bool = false) throws -> Data {
        var info = stat()
        guard stat(url.path, &info) == 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw ModelFileError.unreadable(path: url.path, reason: reason)
        }
        if info.st_mode & S_IFMT == S_IFDIR { throw ModelFileError.unreadable(path: url.path, reason: "it is a folder, not a file") }
        if info.st_mode & S_IFMT == S_IFREG && Int(info.st_size) > maximumBytes {
            throw ModelFileError.unreadable(path: url.path, reason: "\(info.st_size) bytes exceeds the \(maximumBytes)-byte limit")
        }
        do {
            return try Data(contentsOf: url, options: mapped && info.st_mode & S_IFMT == S_IFREG ? .mappedIfSafe : [])
        } catch {
            throw ModelFileError.unreadable(path: url.path, reason: systemReason(of: error))
        }
    }

    /// The POSIX reason inside a Foundation error, or its description.
    public static func systemReason(of error: Error) -> String {
        let error = error as NSError
        if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return error.localizedDescription
    }
}

extension ModelFileError: LocalizedError {
    /// The same one-line description.
    public var errorDescription: String? { description }
}
