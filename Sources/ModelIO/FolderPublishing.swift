import Foundation

/// Publishing a folder that was assembled under a temporary name: it takes its final name in one
/// rename, so a reader never sees a half-written folder, and an existing folder of that name is
/// replaced only once the new one is complete.
public enum FolderPublishing {
    /// A hidden sibling of `destination` to assemble its content in (`.name.partial-UUID`).
    public static func partialFolder(for destination: URL) -> URL {
        destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
    }

    /// Renames `partial` to `destination`. An existing `destination` is first moved aside under a
    /// hidden name and removed afterwards.
    /// - Throws: the file system's error; `partial` is then left in place for the caller to remove.
    public static func publish(_ partial: URL, as destination: URL) throws {
        let files = FileManager.default
        guard files.fileExists(atPath: destination.path) else {
            try files.moveItem(at: partial, to: destination)
            return
        }
        let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).replaced-\(UUID().uuidString)")
        try files.moveItem(at: destination, to: old)
        try files.moveItem(at: partial, to: destination)
        try? files.removeItem(at: old)
    }
}
