import Tensors

/// The order in which examples are batched, a pure function of the seed and the epoch — so a
/// resumed run re-creates exactly the batches it would have seen.
///
/// Each epoch shuffles the examples (Fisher–Yates with `SeededRandom(seed: seed &+ epoch·φ)`,
/// φ = 0x9E3779B97F4A7C15). With `groupByLength`, the shuffled order is cut into mega-batches of
/// 50 batches, each sorted by length (longest first, ties in shuffled order) before being cut into
/// batches, as Hugging Face's `group_by_length` does: batches hold examples of similar length, so
/// little padding is needed, while the epoch stays random.
public struct BatchSampler: Sendable, Equatable {
    /// Examples per batch (the last batch of an epoch may be smaller).
    public var batchSize: Int
    /// Shuffle each epoch (off: file order).
    public var shuffle: Bool
    /// Group examples of similar length into the same batch.
    public var groupByLength: Bool
    /// The data seed.
    public var seed: UInt64

    /// Batches per mega-batch when grouping by length.
    public static let megaBatchFactor = 50

    /// A sampler; every epoch's order follows from `seed`.
    public init(batchSize: Int, shuffle: Bool = true, groupByLength: Bool = true, seed: UInt64 = 0) {
        precondition(batchSize > 0, "BatchSampler: batch size must be positive")
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.groupByLength = groupByLength
        self.seed = seed
    }

    /// The batches (example indices) of `epoch` for examples of the given `lengths`.
    public func batches(lengths: [Int], epoch: Int) -> [[Int]] {
        var order = Array(lengths.indices)
        if shuffle {
            var generator = SeededRandom(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
            Self.shuffle(&order, generator: &generator)
        }
        if groupByLength {
            let mega = batchSize * Self.megaBatchFactor
            var grouped: [Int] = []
            grouped.reserveCapacity(order.count)
            for start in stride(from: 0, to: order.count, by: mega) {
                let chunk = order[start..<min(start + mega, order.count)].enumerated()
                grouped += chunk.sorted { a, b in
                    lengths[a.element] != lengths[b.element] ? lengths[a.element] > lengths[b.element] : a.offset < b.offset
                }.map(\.element)
            }
            order = grouped
        }
        return stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
    }

    /// Fisher–Yates from the end, `j = next() % (i + 1)`: the exact sequence the Python reference repeats.
    static func shuffle(_ order: inout [Int], generator: inout SeededRandom) {
        guard order.count > 1 else { return }
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(generator.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
    }
}

extension BatchSampler {
    /// With packing: the epoch's examples (shuffled, not grouped by length) laid one after another
    /// into rows of at most `rowLength` tokens — a row is closed when the next example does not fit —
    /// and `batchSize` rows per batch. An example longer than `rowLength` gets a row of its own.
    public func packedBatches(lengths: [Int], epoch: Int, rowLength: Int) -> [[[Int]]] {
        var plain = self
        plain.groupByLength = false
        plain.batchSize = max(1, lengths.count)
        let order = plain.batches(lengths: lengths, epoch: epoch).first ?? []
        var rows: [[Int]] = []
        var current: [Int] = []
        var used = 0
        for index in order {
            if !current.isEmpty && used + lengths[index] > rowLength {
                rows.append(current)
                current = []
                used = 0
            }
            current.append(index)
            used += lengths[index]
        }
        if !current.isEmpty { rows.append(current) }
        return stride(from: 0, to: rows.count, by: batchSize).map { Array(rows[$0..<min($0 + batchSize, rows.count)]) }
    }
}
