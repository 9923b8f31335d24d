import Autograd
import Foundation
import Models

/// Continuous batching on a thread of its own: requests join the running batch at the next step
/// (up to `maxBatch` sequences; later ones wait their turn) and leave it when they finish or
/// cancel, so a short request never waits for a long one to end. Work that changes the model
/// (loading or unloading an adapter) runs between steps.
final class BatchScheduler: @unchecked Sendable {
    /// Most sequences generated together.
    let maxBatch: Int
    private let batch: DecodeBatch
    private let condition = NSCondition()
    private var incoming: [DecodeBatch.Entry] = []
    private var tasks: [(ready: ([String?]) -> Bool, run: () -> Void)] = []
    private var stopping = false
    private var thread: Thread?

    /// A scheduler over `batch`'s model, started at once.
    init(batch: DecodeBatch, maxBatch: Int) {
        precondition(maxBatch >= 1, "BatchScheduler: maxBatch must be ≥ 1")
        self.batch = batch
        self.maxBatch = maxBatch
        let thread = Thread { [unowned self] in loop() }
        thread.name = "peftkit-scheduler"
        thread.stackSize = 16 << 20
        self.thread = thread
        thread.start()
    }

    /// How many decoding passes ran with each number of sequences so far.
    var decodingPassSizes: [Int: Int] {
        var sizes: [Int: Int] = [:]
        try? perform { sizes = self.batch.decodingPassSizes }
        return sizes
    }

    /// Stops the thread after its current step (sequences still running get no more tokens).
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    deinit { stop() }

    /// Generates after `prompt` with adapter `adapter` (nil: the base model) as `CausalLanguageModel.generate`
    /// does — same tokens, same calls of `onScores` and `onToken` — but as one sequence of the batch.
    /// Blocks the calling thread; `onToken` returning false or either callback throwing cancels the sequence.
    func generate(prompt: [Int], options: GenerationOptions, adapter: String?, prefix: Variable?,
                  onScores: ((Int, [Float]) throws -> Void)?, onToken: (Int) throws -> Bool) throws -> [Int] {
        let decoding = try SequenceDecoding(prompt: prompt, options: options, prefix: prefix, contextLength: batch.model.contextLength)
        let channel = TokenChannel()
        let entry = DecodeBatch.Entry(adapter: adapter, decoding: decoding, cache: batch.model.makeCache(), wantsScores: onScores != nil, channel: channel)
        condition.lock()
        incoming.append(entry)
        condition.signal()
        condition.unlock()
        var output: [Int] = []
        do {
            while true {
                switch channel.next() {
                case let .token(id, scores, stops):
                    if let onScores { try onScores(id, scores ?? []) }
                    if stops { return output }
                    output.append(id)
                    if try !onToken(id) {
                        channel.cancel()
                        return output
                    }
                case .finished: return output
                case let .failed(error): throw error
                }
            }
        } catch {
            channel.cancel()
            throw error
        }
    }

    /// Runs `work` on the scheduler's thread between two steps, once `ready` holds for the adapters
    /// of the sequences running or waiting; returns (or throws) what it did.
    func perform(when ready: @escaping ([String?]) -> Bool = { _ in true }, _ work: @escaping () throws -> Void) throws {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var failure: (any Error)?
        condition.lock()
        tasks.append((ready, {
            do { try work() } catch { failure = error }
            done.signal()
        }))
        condition.signal()
        condition.unlock()
        done.wait()
        if let failure { throw failure }
    }

    /// Blocks the scheduler between two steps (calling `held` once it is) until `pending` requests
    /// are waiting to join (tests: a batch that does not depend on timing).
    func hold(until pending: Int, held: @escaping () -> Void) throws {
        try perform { [self] in
            held()
            while true {
                condition.lock()
                let waiting = incoming.count
                condition.unlock()
                if waiting >= pending { break }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
    }

    private func loop() {
        while true {
            condition.lock()
            var due: [() -> Void] = []
            while true {
                if stopping {
                    condition.unlock()
                    return
                }
                let inUse = batch.adaptersInUse + incoming.map(\.adapter)
                let ready = tasks.indices.filter { tasks[$0].ready(inUse) }
                due = ready.map { tasks[$0].run }
                for index in ready.reversed() { tasks.remove(at: index) }
                if !due.isEmpty || !incoming.isEmpty || !batch.entries.isEmpty { break }
                condition.wait()
            }
            condition.unlock()
            for work in due { work() }
            condition.lock()
            while batch.entries.count < maxBatch && !incoming.isEmpty { batch.add(incoming.removeFirst()) }
            let idle = batch.entries.isEmpty
            condition.unlock()
            if !idle { batch.step() }
        }
    }
}
