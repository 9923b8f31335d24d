import Foundation
import ModelIO

/// Housekeeping of a run's output folder that must survive `kill -9` at any moment:
///
/// - A checkpoint is retired by renaming it to a hidden name first and deleting it afterwards, so a
///   kill in the middle never leaves a half-deleted folder under a checkpoint's name.
/// - Leftovers of interrupted writes (hidden `.tmp` files, `.partial-`, `.retired-` and `.replaced-`
///   folders, all named by PEFTKit's writers) are removed when a run starts.
/// - Metrics of a run that never produced a result are moved aside instead of blocking a new run.
enum OutputFolder {
    /// Removes `folder` without ever leaving it half-deleted under its own name.
    static func retire(_ folder: URL) throws {
        let aside = folder.deletingLastPathComponent().appendingPathComponent(".\(folder.lastPathComponent).retired-\(UUID().uuidString)")
        try FileManager.default.moveItem(at: folder, to: aside)
        try? FileManager.default.removeItem(at: aside)
    }

    /// Whether `name` is a leftover of an interrupted write by PEFTKit: `.<file>.<UUID>.tmp`
    /// (`AtomicFile`) or `.<folder>.partial-<UUID>`, `.retired-<UUID>`, `.replaced-<UUID>`.
    static func isLeftover(_ name: String) -> Bool {
        guard name.hasPrefix("."), name.count > 38 else { return false }
        if name.hasSuffix(".tmp") {
            let stem = name.dropLast(4)
            return stem.count > 37 && stem.dropLast(36).hasSuffix(".") && UUID(uuidString: String(stem.suffix(36))) != nil
        }
        for marker in [".partial-", ".retired-", ".replaced-"] {
            let stem = name.dropLast(36)
            if stem.hasSuffix(marker) && UUID(uuidString: String(name.suffix(36))) != nil { return true }
        }
        return false
    }

    /// Removes PEFTKit's leftovers in `folder` (not in its subfolders: complete checkpoints never
    /// hold any, as they are published whole).
    static func removeLeftovers(in folder: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names where isLeftover(name) { try? FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
    }

    /// The metrics files a run writes.
    static let metricsNames = ["metrics.jsonl", "metrics.csv"]

    /// Moves the metrics files of an earlier run aside (`metrics.before-<time>.jsonl`), so a new run
    /// starts its own without losing them. Returns the names they were given.
    @discardableResult
    static func moveMetricsAside(in folder: URL, now: Date = Date()) throws -> [String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stamp = formatter.string(from: now)
        var moved: [String] = []
        for name in metricsNames where FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path) {
            let url = URL(fileURLWithPath: name)
            var newName = "\(url.deletingPathExtension().lastPathComponent).before-\(stamp).\(url.pathExtension)"
            var counter = 1
            while FileManager.default.fileExists(atPath: folder.appendingPathComponent(newName).path) {
                counter += 1
                newName = "\(url.deletingPathExtension().lastPathComponent).before-\(stamp)-\(counter).\(url.pathExtension)"
            }
            try FileManager.default.moveItem(at: folder.appendingPathComponent(name), to: folder.appendingPathComponent(newName))
            moved.append(newName)
        }
        return moved
    }

    /// The SHA-256 of every file in a checkpoint folder being assembled, by name (the manifest
    /// excluded: it holds them).
    static func checksums(of folder: URL, excluding manifest: String) throws -> [String: String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != manifest && !$0.hasPrefix(".") }
        var sums: [String: String] = [:]
        for name in names { sums[name] = try SHA256.hexDigest(ofFileAt: folder.appendingPathComponent(name)) }
        return sums
    }

    /// The first file of `folder` that is missing or differs from its recorded checksum, with why.
    static func firstMismatch(in folder: URL, checksums: [String: String]) -> String? {
        for (name, expected) in checksums.sorted(by: { $0.key < $1.key }) {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { return "\(name) is missing" }
            guard let actual = try? SHA256.hexDigest(ofFileAt: url) else { return "\(name) cannot be read" }
            if actual != expected { return "\(name) does not match the SHA-256 recorded when it was saved (it was changed or damaged since)" }
        }
        return nil
    }
}
