import Dispatch
import Foundation
import Tensors

/// Where the time of training steps goes, operation by operation: each recorded operation's forward
/// and backward seconds, calls and matrix-product FLOPs, and named regions (the optimizer, clipping).
///
/// Take one with `OperationProfile.$current.withValue(profile) { … }` around the steps to measure
/// (`peftkit train --profile FILE` does this for every step and writes `markdownTable`).
///
/// - Forward: an operation's value is computed before `Variable.operation` records it, so the time
///   from the previous mark (the previous operation, or a region's end) to that call is charged to
///   it. Work between operations that records nothing (reshaping a batch, say) lands on the next
///   operation; `region` fences such work off under its own name.
/// - Backward: each node's backward closure is timed, with the gradient accumulation it causes.
/// - FLOPs: the matrix products' 2·m·n·k (`FlopCounter`) done meanwhile by this thread and the
///   pool's workers running its regions (not by other threads).
///
/// Recording costs a clock read per operation (well under 1 % of a step); the per-thread task-local
/// lookup when no profile is set is all that ordinary runs pay. One profile belongs to one thread of
/// graph building (threads the pool starts for a product are fine: only the graph's thread marks).
public final class OperationProfile: @unchecked Sendable {
    /// The profile operations on this task record into, if any.
    @TaskLocal public static var current: OperationProfile?

    /// What one name accumulated.
    public struct Entry: Sendable, Equatable {
        /// The operation (as it names itself in the graph) or region.
        public var name: String
        /// Seconds computing values (forward), or inside the region.
        public var forwardSeconds = 0.0
        /// Forward calls (or region entries).
        public var forwardCalls = 0
        /// Matrix-product FLOPs of the forward computations (or the region).
        public var forwardFlops = 0
        /// Seconds in backward closures of this operation.
        public var backwardSeconds = 0.0
        /// Backward calls.
        public var backwardCalls = 0
        /// Matrix-product FLOPs of the backward closures.
        public var backwardFlops = 0
        /// Whether this is a region rather than an operation.
        public var isRegion = false

        /// Forward and backward seconds together.
        public var seconds: Double { forwardSeconds + backwardSeconds }
        /// Forward and backward FLOPs together.
        public var flops: Int { forwardFlops + backwardFlops }
    }

    private let lock = NSLock()
    private let flops = FlopCounter()
    private var entries: [String: Entry] = [:]
    private var lastMark: UInt64 = 0
    private var lastFlops = 0
    /// Seconds of the profiled spans (`measure`), the denominator of the shares.
    public private(set) var measuredSeconds = 0.0
    /// Matrix-product FLOPs inside the profiled spans.
    public private(set) var measuredFlops = 0
    /// How many spans were measured (training steps).
    public private(set) var spans = 0

    /// An empty profile.
    public init() {}

    /// Runs `body` with this profile current and product FLOPs counted, adding its wall time to
    /// `measuredSeconds` (one training step, say). Work inside that no operation or region claims is
    /// reported as "(unattributed)".
    public func measure<R>(_ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds, startFlops = flops.count
        resetMark()
        defer {
            let end = DispatchTime.now().uptimeNanoseconds
            lock.withLock {
                measuredSeconds += Double(end - start) / 1e9
                measuredFlops += flops.count - startFlops
                spans += 1
            }
        }
        return try flops.counting { try Self.$current.withValue(self) { try body() } }
    }

    /// Runs `body` as a named region of the current profile (when there is one): its time and FLOPs
    /// go to `name`, and the time since the last mark to "(unattributed)".
    public static func region<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        guard let profile = current else { return try body() }
        profile.charge("(unattributed)", isRegion: true, backward: false)
        defer { profile.charge(name, isRegion: true, backward: false) }
        return try body()
    }

    /// Charges the time and FLOPs since the last mark to `name`'s forward column (called as an
    /// operation is recorded).
    func forward(_ name: String) { charge(name, isRegion: false, backward: false) }

    /// Starts timing a backward closure (after charging what came before to "(unattributed)").
    func beginBackward() { charge("(unattributed)", isRegion: true, backward: false) }

    /// Charges the time since `beginBackward` to `name`'s backward column.
    func endBackward(_ name: String) { charge(name, isRegion: false, backward: true) }

    private func resetMark() {
        lock.withLock {
            lastMark = DispatchTime.now().uptimeNanoseconds
            lastFlops = flops.count
        }
    }

    private func charge(_ name: String, isRegion: Bool, backward: Bool) {
        let now = DispatchTime.now().uptimeNanoseconds, counted = flops.count
        lock.withLock {
            let seconds = Double(now &- lastMark) / 1e9, done = counted - lastFlops
            lastMark = now
            lastFlops = counted
            var entry = entries[name] ?? Entry(name: name, isRegion: isRegion)
            if backward {
                entry.backwardSeconds += seconds
                entry.backwardCalls += 1
                entry.backwardFlops += done
            } else {
                entry.forwardSeconds += seconds
                entry.forwardCalls += 1
                entry.forwardFlops += done
            }
            entries[name] = entry
        }
    }

    /// Every name's totals, the most time first.
    public var table: [Entry] {
        lock.withLock { Array(entries.values) }.sorted { $0.seconds != $1.seconds ? $0.seconds > $1.seconds : $0.name < $1.name }
    }

    /// The profile as a Markdown table: per name the forward and backward seconds per span, the
    /// share of the measured time, and the matrix products' GFLOP/s; a last row for the whole span.
    /// - Parameter peakGFLOPs: the machine's float FMA peak, to print the whole span's share of it.
    public func markdownTable(peakGFLOPs: Double? = nil) -> String {
        let rows = table
        let perSpan = 1 / Double(max(1, spans))
        func number(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
        func rate(_ flops: Int, _ seconds: Double) -> String { flops > 0 && seconds > 0 ? number(Double(flops) / seconds / 1e9, 0) : "" }
        func share(_ seconds: Double) -> String { measuredSeconds > 0 ? number(seconds / measuredSeconds * 100, 1) + " %" : "" }
        var lines = ["| operation | forward ms | backward ms | share | calls per step (fwd / bwd) | GFLOP per step | GFLOP/s |",
                     "|---|---|---|---|---|---|---|"]
        for entry in rows {
            let name = entry.isRegion ? "*\(entry.name)*" : entry.name
            lines.append("| \(name) | \(number(entry.forwardSeconds * perSpan * 1000, 1)) | \(number(entry.backwardSeconds * perSpan * 1000, 1)) | "
                         + "\(share(entry.seconds)) | \(number(Double(entry.forwardCalls) * perSpan, 0)) / \(number(Double(entry.backwardCalls) * perSpan, 0)) | "
                         + "\(number(Double(entry.flops) * perSpan / 1e9, 2)) | \(rate(entry.flops, entry.seconds)) |")
        }
        let outside = measuredSeconds - rows.reduce(0) { $0 + $1.seconds }
        lines.append("| *(outside any mark)* | \(number(outside * perSpan * 1000, 1)) | | \(share(outside)) | | | |")
        lines.append("| **step** | \(number(measuredSeconds * perSpan * 1000, 1)) | | 100 % | | \(number(Double(measuredFlops) * perSpan / 1e9, 2)) | "
                     + "\(rate(measuredFlops, measuredSeconds)) |")
        var text = lines.joined(separator: "\n")
        if let peakGFLOPs, measuredSeconds > 0 {
            text += "\n\nThe step's matrix products came to \(number(Double(measuredFlops) / measuredSeconds / 1e9 / peakGFLOPs * 100, 0)) % "
                + "of the \(number(peakGFLOPs, 0)) GFLOP/s float FMA peak given (FLOPs of every product over the whole step's time)."
        }
        return text
    }
}
