import Foundation
import Synchronization

/// Progress of a long data preparation on standard error: nothing for the first two seconds (small
/// files stay quiet), then a line every half second — "preparing train.jsonl: 420,000 / 1,000,000
/// records (12 s)" — and a last line when done.
final class PreparationProgress: Sendable {
    private let label: String
    private let output: CommandOutput
    private let start = DispatchTime.now().uptimeNanoseconds
    private let lastShown = Mutex<UInt64?>(nil)

    /// Progress of preparing the file at `path`, written to `output`.
    init(path: String, output: CommandOutput) {
        self.label = URL(fileURLWithPath: path).lastPathComponent
        self.output = output
    }

    /// The callback for `TrainingDataset.load(progress:)`.
    var report: @Sendable (Int, Int) -> Void {
        { [self] done, total in self.update(done: done, total: total) }
    }

    private func update(done: Int, total: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        let elapsed = now - start
        let show = lastShown.withLock { last -> Bool in
            guard elapsed >= 2_000_000_000 else { return false }
            guard done == total || last.map({ now - $0 >= 500_000_000 }) ?? true else { return false }
            last = now
            return true
        }
        guard show else { return }
        let numbers = "\(Self.grouped(done)) / \(Self.grouped(total)) records (\(elapsed / 1_000_000_000) s)"
        output.standardError("preparing \(label): \(numbers)\n")
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(value)
        return String(digits.reversed().enumerated().flatMap { $0.offset > 0 && $0.offset % 3 == 0 ? [",", $0.element] : [$0.element] }.reversed())
    }
}
