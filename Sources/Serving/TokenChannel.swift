import Foundation

/// What the scheduler tells one request about its sequence, in order.
enum TokenEvent {
    /// A chosen token with the raw logits it was chosen from (when asked for); `stops` when it is a
    /// stop token (the sequence ends without it).
    case token(Int, scores: [Float]?, stops: Bool)
    /// The sequence ended (budget, context or a stop token).
    case finished
    /// A forward pass failed.
    case failed(any Error)
}

/// The events of one sequence from the scheduler's thread to the request's thread, and the
/// request's cancellation back. The scheduler never waits on it.
final class TokenChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [TokenEvent] = []
    private var cancelled = false

    /// Adds an event (scheduler side).
    func send(_ event: TokenEvent) {
        condition.lock()
        events.append(event)
        condition.signal()
        condition.unlock()
    }

    /// The next event, waiting for it (request side).
    func next() -> TokenEvent {
        condition.lock()
        defer { condition.unlock() }
        while events.isEmpty { condition.wait() }
        return events.removeFirst()
    }

    /// Asks the scheduler to drop the sequence at its next step (request side).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.unlock()
    }

    /// True once the request has cancelled.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }
}
