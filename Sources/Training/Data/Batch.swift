/// Examples padded into one rectangular batch.
///
/// Rows are right-padded to the longest example of the batch (grouping by length keeps that
/// close to every row's own length). Padding positions have `keyMask` false and no label, so they
/// neither are attended to nor carry loss.
public struct Batch: Sendable, Equatable {
    /// Token ids `B·T`, row-major.
    public var ids: [Int]
    /// Rows `B`.
    public var rows: Int
    /// Positions per row `T`.
    public var length: Int
    /// `B·T` flags: true at real tokens, false at padding.
    public var keyMask: [Bool]
    /// `B·T` labels (`TokenizedExample.ignoreIndex` where no loss); empty for classification.
    public var labels: [Int]
    /// Class indices `B` (classification).
    public var classLabels: [Int]
    /// Predictions that carry a loss (shifted language-model targets, or rows for classification).
    public var targetCount: Int
    /// Real (non-padding) tokens.
    public var tokenCount: Int
    /// With packing, `B·T` ids of the example each position belongs to (attention stays inside an
    /// example, and no example is predicted from the one before it); nil otherwise.
    public var segments: [Int]?

    /// Pads `examples` into a batch; `padID` fills padding positions (any valid id: it is masked).
    public init(_ examples: [TokenizedExample], padID: Int = 0) {
        precondition(!examples.isEmpty, "Batch: no examples")
        rows = examples.count
        length = examples.map(\.ids.count).max()!
        ids = []
        keyMask = []
        labels = []
        ids.reserveCapacity(rows * length)
        let classification = examples[0].classLabel != nil
        for example in examples {
            let padding = length - example.ids.count
            ids += example.ids + Array(repeating: padID, count: padding)
            keyMask += Array(repeating: true, count: example.ids.count) + Array(repeating: false, count: padding)
            if !classification {
                labels += example.labels + Array(repeating: TokenizedExample.ignoreIndex, count: padding)
            }
        }
        classLabels = examples.compactMap(\.classLabel)
        targetCount = examples.reduce(0) { $0 + $1.targetCount }
        tokenCount = examples.reduce(0) { $0 + $1.ids.count }
        segments = nil
    }

    /// Packs several examples into each row (language modeling only): row `r` holds `rows[r]`
    /// one after another, right-padded to the longest row. Segment ids number the examples.
    public init(packing rows: [[TokenizedExample]], padID: Int = 0) {
        precondition(!rows.isEmpty && rows.allSatisfy { !$0.isEmpty }, "Batch: empty packed rows")
        precondition(rows.joined().allSatisfy { $0.classLabel == nil }, "Batch: classification examples cannot be packed")
        let joined = rows.map { row in
            TokenizedExample(ids: row.flatMap(\.ids), labels: row.flatMap(\.labels))
        }
        self.init(joined, padID: padID)
        var ids: [Int] = []
        var segment = 0
        for row in rows {
            var width = 0
            for example in row {
                ids += Array(repeating: segment, count: example.ids.count)
                width += example.ids.count
                segment += 1
            }
            ids += Array(repeating: -1 - segment, count: length - width)  // padding: its own segment
            segment += 1
        }
        segments = ids
        targetCount = rows.joined().reduce(0) { $0 + $1.targetCount }
    }

    /// True for a classification batch.
    public var isClassification: Bool { !classLabels.isEmpty }
}
