import Autograd
import Foundation
import Tensors
import Testing
@testable import Training

/// The collectives data-parallel training is built on: sums identical on every member, a member's
/// abort ending the others' waits, and gradients reduced in buckets equal to the plain sum.
@Suite("Communicators")
struct CommunicatorTests {
    /// Runs `body` for every member of `group` on its own thread; returns each member's result or error.
    static func onEveryMember<Result>(_ group: LocalCommunicatorGroup,
                                      _ body: @escaping @Sendable (Communicator) throws -> Result) -> [Swift.Result<Result, any Error>] {
        onEveryMember(group.members, body)
    }

    /// Runs `body` for every one of `members` on its own thread; returns each member's result or error.
    static func onEveryMember<Result>(_ members: [Communicator],
                                      _ body: @escaping @Sendable (Communicator) throws -> Result) -> [Swift.Result<Result, any Error>] {
        let results = Locked([Int: Swift.Result<Result, any Error>]())
        let done = DispatchGroup()
        for member in members {
            done.enter()
            Thread {
                defer { done.leave() }
                let outcome = Swift.Result { try body(member) }
                results.withLock { $0[member.rank] = outcome }
            }.start()
        }
        done.wait()
        return results.withLock { all in members.indices.map { all[$0]! } }
    }

    @Test("three members: sums and maxima are the same on each, barriers return, a group of one changes nothing")
    func collectives() throws {
        let outcomes = Self.onEveryMember(LocalCommunicatorGroup(size: 3)) { member -> [Float] in
            var values: [Float] = [Float(member.rank) + 0.1, 1e-8, -2]
            try member.allReduceSum(&values)
            try member.barrier()
            let count = try member.allReduceSum(Double(member.rank + 1))
            let largest = try member.allReduceMax(Double(member.rank * 10))
            return values + [Float(count), Float(largest)]
        }
        let results = try outcomes.map { try $0.get() }
        #expect(results[0] == results[1] && results[1] == results[2])
        #expect(results[0] == [Float(0.1 + 1.1 + 2.1), 3e-8, -6, 6, 20])
        var alone: [Float] = [1, 2]
        try SingleProcessCommunicator().allReduceSum(&alone)
        #expect(alone == [1, 2])
    }

    @Test("a member that aborts ends the others' waits with an error naming it; mismatched sizes are an error, not a hang")
    func abortAndMismatch() {
        let aborted = Self.onEveryMember(LocalCommunicatorGroup(size: 3)) { member -> Int in
            if member.rank == 1 {
                member.abort("out of memory")
                return 0
            }
            var values: [Float] = [1]
            try member.allReduceSum(&values)
            return 1
        }
        for rank in [0, 2] {
            #expect(throws: CommunicatorError.aborted(rank: 1, message: "out of memory")) { try aborted[rank].get() }
        }
        let mismatched = Self.onEveryMember(LocalCommunicatorGroup(size: 2)) { member -> Int in
            var values = [Float](repeating: 1, count: member.rank + 1)
            try member.allReduceSum(&values)
            return values.count
        }
        for outcome in mismatched {
            #expect { try outcome.get() } throws: { ($0 as? CommunicatorError).map { if case .mismatchedSizes = $0 { true } else { false } } ?? false }
        }
    }

    @Test("gradients reduced in buckets smaller than a parameter equal the plain sum on every member; a missing gradient counts as zeros")
    func gradientBuckets() throws {
        let shapes = [[7], [5, 5], [3]]
        let outcomes = Self.onEveryMember(LocalCommunicatorGroup(size: 2)) { member -> [[Float]] in
            let parameters = shapes.enumerated().map { index, shape in
                let parameter = Variable(Tensor(shape: shape) { out in for i in out.indices { out[i] = Float(i + 100 * index) } }, requiresGrad: true)
                // Member 1 has no gradient for the middle parameter.
                if member.rank == 0 || index != 1 {
                    parameter.grad = Tensor(shape: shape) { out in for i in out.indices { out[i] = Float(member.rank + 1) * Float(i + 1) } }
                }
                return parameter
            }
            try GradientAllReduce(bucketBytes: 10 * MemoryLayout<Float>.stride).sum(parameters, over: member)
            #expect(parameters.map(\.grad!.shape) == shapes)
            return parameters.map { $0.grad!.toArray() }
        }
        let results = try outcomes.map { try $0.get() }
        #expect(results[0] == results[1])
        #expect(results[0][0] == (1...7).map { Float(3 * $0) })
        #expect(results[0][1] == (1...25).map { Float($0) })
        #expect(results[0][2] == (1...3).map { Float(3 * $0) })
        // The bucket plan: 7 + 25 + 3 values in buckets of 10, a parameter split across buckets.
        let plan = GradientAllReduce.buckets(counts: [7, 25, 3], capacity: 10)
        #expect(plan.map { $0.reduce(0) { $0 + $1.range.count } } == [10, 10, 10, 5])
    }
}

/// A value behind a lock (test helper).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
