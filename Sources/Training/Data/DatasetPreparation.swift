import Foundation
import Synchronization

/// Preparing records in parallel: records are cut into blocks of `blockSize`, the blocks are taken by
/// one worker per core, and the results come back in file order. When records fail, the error of
/// the earliest line is thrown (the one a sequential pass would have met first), so messages do not
/// depend on thread timing. `progress` hears how many records are done (from any thread).
enum DatasetPreparation {
    /// Records per block: big enough that taking a block costs nothing, small enough to share the work.
    static let blockSize = 512

    /// `body(line, record)` for every record, in order.
    static func map<Result: Sendable>(_ records: [(line: Int, record: DatasetRecord)], progress: (@Sendable (Int, Int) -> Void)?,
                                      _ body: @Sendable (Int, DatasetRecord) throws -> Result) throws -> [Result] {
        let blocks = (records.count + blockSize - 1) / blockSize
        let workers = max(1, min(blocks, ProcessInfo.processInfo.activeProcessorCount))
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let firstFailure = Mutex<(line: Int, error: any Error)?>(nil)
        let results = Mutex([[Result]?](repeating: nil, count: blocks))
        records.withUnsafeBufferPointer { records in
            nonisolated(unsafe) let records = records
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let block = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard block < blocks else { return }
                    let range = (block * blockSize)..<min(records.count, (block + 1) * blockSize)
                    // A block after a known failure cannot hold the earliest one.
                    if let failed = firstFailure.withLock({ $0?.line }), records[range.lowerBound].line > failed { return }
                    var local: [Result] = []
                    local.reserveCapacity(range.count)
                    for index in range {
                        do {
                            local.append(try body(records[index].line, records[index].record))
                        } catch {
                            let line = records[index].line
                            firstFailure.withLock { if $0 == nil || line < $0!.line { $0 = (line, error) } }
                            return
                        }
                    }
                    results.withLock { $0[block] = local }
                    let finished = done.wrappingAdd(range.count, ordering: .relaxed).newValue
                    progress?(finished, records.count)
                }
            }
        }
        if let failure = firstFailure.withLock({ $0 }) { throw failure.error }
        return results.withLock { $0 }.flatMap { $0! }
    }
}
