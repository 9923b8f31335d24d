import Autograd
import Tensors

/// Sums the trainable parameters' gradients over the members of a `Communicator`, as PyTorch's DDP
/// and mlx's `average_gradients` do: the gradients are laid end to end and reduced in flat buckets
/// of at most `bucketBytes`, so a model of many small adapter tensors costs a few collectives,
/// not one per tensor. A parameter without a gradient on a member counts as zeros there.
public struct GradientAllReduce: Sendable {
    /// Most bytes reduced in one collective (32 MB by default).
    public var bucketBytes: Int

    /// Reduces in buckets of at most `bucketBytes` (at least one value each).
    public init(bucketBytes: Int = 32 << 20) {
        self.bucketBytes = bucketBytes
    }

    /// One bucket's pieces: values `range` of parameter `parameter` sit at `offset` in the bucket.
    struct Piece {
        let parameter: Int
        let range: Range<Int>
        let offset: Int
    }

    /// The buckets for parameters of `counts` values each, in order, `capacity` values at most per bucket.
    static func buckets(counts: [Int], capacity: Int) -> [[Piece]] {
        var buckets: [[Piece]] = [], current: [Piece] = [], filled = 0
        for (parameter, count) in counts.enumerated() {
            var start = 0
            while start < count {
                let take = Swift.min(count - start, capacity - filled)
                current.append(Piece(parameter: parameter, range: start..<(start + take), offset: filled))
                filled += take
                start += take
                if filled == capacity {
                    buckets.append(current)
                    current = []
                    filled = 0
                }
            }
        }
        if !current.isEmpty { buckets.append(current) }
        return buckets
    }

    /// Replaces each parameter's gradient by the sum over the members (every member gets the same
    /// values). Every member must pass the same parameters in the same order.
    /// - Throws: `CommunicatorError` when the group fails or the members' parameters differ in size.
    public func sum(_ parameters: [Variable], over communicator: Communicator) throws {
        guard communicator.size > 1 else { return }
        let counts = parameters.map(\.value.count)
        let capacity = Swift.max(1, bucketBytes / MemoryLayout<Float>.stride)
        var sums = parameters.map { $0.grad?.toArray() ?? [Float](repeating: 0, count: $0.value.count) }
        // The members must agree on the layout before any bucket is exchanged.
        let total = Double(counts.reduce(0, +))
        guard try communicator.allReduceMax(total) == total, try communicator.allReduceSum(total) == total * Double(communicator.size) else {
            communicator.abort("the members' trainable parameters differ in size (\(Int(total)) values here)")
            throw CommunicatorError.mismatchedSizes(rank: communicator.rank, expected: -1, got: Int(total))
        }
        for bucket in Self.buckets(counts: counts, capacity: capacity) {
            var buffer = [Float](repeating: 0, count: bucket.last.map { $0.offset + $0.range.count } ?? 0)
            for piece in bucket {
                for (position, index) in piece.range.enumerated() { buffer[piece.offset + position] = sums[piece.parameter][index] }
            }
            try communicator.allReduceSum(&buffer)
            for piece in bucket {
                for (position, index) in piece.range.enumerated() { sums[piece.parameter][index] = buffer[piece.offset + position] }
            }
        }
        for (parameter, summed) in zip(parameters, sums) { parameter.grad = Tensor(summed, shape: parameter.value.shape) }
    }
}
