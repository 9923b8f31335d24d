import Foundation

/// How much memory this process may use: the machine's physical memory, or the container's limit
/// (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`) when that is smaller, and how much is free
/// now (`MemAvailable`).
public enum MachineMemory {
    /// The most memory the process can have, in bytes.
    public static var limit: Int {
        let physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        let containers = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"].compactMap { path -> Int? in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))  // "max" means no limit
        }
        return ([physical] + containers.filter { $0 > 0 }).min()!
    }

    /// Memory available now without swapping (`MemAvailable` of `/proc/meminfo`), if known.
    public static var available: Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return nil
    }

    /// `bytes` for people: gigabytes with one decimal from 1 GB ("3.2 GB"), whole megabytes below ("12 MB").
    public static func describe(_ bytes: Int) -> String {
        bytes >= 1_000_000_000 ? String(format: "%.1f GB", Double(bytes) / 1e9) : "\(Int((Double(bytes) / 1e6).rounded())) MB"
    }
}
