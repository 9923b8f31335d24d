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
    }

    /// True for a classification batch.
    public var isClassification: Bool { !classLabels.isEmpty }
}
