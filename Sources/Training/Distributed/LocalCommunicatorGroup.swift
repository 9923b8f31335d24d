import Foundation

/// Members of one process (one per thread) training together: the in-process `Communicator`, for
/// tests and as the reference the MPI implementation is checked against. Sums are taken in rank
/// order, so every member gets the same bits and the result does not depend on timing.
public final class LocalCommunicatorGroup: @unchecked Sendable {
    /// The members, `members[r].rank == r` (each keeps the group alive).
    public var members: [Communicator] { (0..<size).map { Member(rank: $0, group: self) } }
    let size: Int
    private let condition = NSCondition()
    /// Each member's contribution to the collective in progress.
    private var contributions: [[Double]?]
    /// The result of the last completed collective.
    private var result: [Double] = []
    /// Members that have arrived at the collective in progress, and its number.
    private var arrived = 0
    private var generation = 0
    private var failure: CommunicatorError?

    /// A group of `size` members.
    public init(size: Int) {
        precondition(size >= 1, "LocalCommunicatorGroup: size must be ≥ 1")
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    /// How a collective combines the members' contributions.
    enum Combination { case sum, max }

    /// Adds `values` of member `rank` to the collective in progress and returns the combination of
    /// all members' values, once every member has arrived.
    func collective(_ values: [Double], rank: Int, combining combination: Combination) throws -> [Double] {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        let myGeneration = generation
        contributions[rank] = values
        arrived += 1
        if arrived == size {
            let count = contributions[0]!.count
            for (member, contribution) in contributions.enumerated() where contribution!.count != count {
                failure = .mismatchedSizes(rank: member, expected: count, got: contribution!.count)
                condition.broadcast()
                throw failure!
            }
            var combined = contributions[0]!
            for member in 1..<size {
                let next = contributions[member]!
                for index in 0..<count {
                    combined[index] = combination == .sum ? combined[index] + next[index] : Swift.max(combined[index], next[index])
                }
            }
            result = combined
            contributions = Array(repeating: nil, count: size)
            arrived = 0
            generation += 1
            condition.broadcast()
            return combined
        }
        while generation == myGeneration && failure == nil { condition.wait() }
        if generation == myGeneration, let failure { throw failure }
        return result
    }

    /// Ends the group on behalf of member `rank`.
    func abort(rank: Int, message: String) {
        condition.lock()
        if failure == nil { failure = .aborted(rank: rank, message: message) }
        condition.broadcast()
        condition.unlock()
    }

    /// One member of the group.
    final class Member: Communicator, @unchecked Sendable {
        let rank: Int
        var size: Int { group.size }
        private let group: LocalCommunicatorGroup

        init(rank: Int, group: LocalCommunicatorGroup) {
            self.rank = rank
            self.group = group
        }

        func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            // Float sums accumulate in double and round once: the same bits on every member.
            let combined = try group.collective(values.map(Double.init), rank: rank, combining: .sum)
            for index in values.indices { values[index] = Float(combined[index]) }
        }

        func allReduceSum(_ value: Double) throws -> Double { try group.collective([value], rank: rank, combining: .sum)[0] }
        func allReduceMax(_ value: Double) throws -> Double { try group.collective([value], rank: rank, combining: .max)[0] }
        func barrier() throws { _ = try group.collective([], rank: rank, combining: .sum) }
        func abort(_ message: String) { group.abort(rank: rank, message: message) }
    }
}
