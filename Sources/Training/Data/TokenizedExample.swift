/// One example as the model sees it.
public struct TokenizedExample: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int]
    /// Per token, the id the model learns to predict there (Hugging Face's `labels`: the token
    /// itself) or `ignoreIndex` where no loss is taken (prompt, padding). Empty for classification.
    public var labels: [Int]
    /// The class index (classification).
    public var classLabel: Int?
    /// The tokens before the final answer: what greedy generation starts from for exact match.
    public var promptLength: Int
    /// The expected final answer text (exact match), when the record has one.
    public var reference: String?
    /// Where the record came from (line of a JSONL file, or record number).
    public var line: Int
    /// True when the example was cut to the maximum length.
    public var wasTruncated = false

    /// The label value that takes no loss.
    public static let ignoreIndex = -100

    /// An example; `promptLength` defaults to all of `ids` (no answer to generate).
    public init(ids: [Int], labels: [Int], classLabel: Int? = nil, promptLength: Int? = nil, reference: String? = nil, line: Int = 0) {
        precondition(labels.isEmpty || labels.count == ids.count, "TokenizedExample: \(labels.count) labels for \(ids.count) ids")
        self.ids = ids
        self.labels = labels
        self.classLabel = classLabel
        self.promptLength = promptLength ?? ids.count
        self.reference = reference
        self.line = line
    }

    /// Number of predictions that carry a loss: positions `t` whose next token `t + 1` is labelled
    /// (for classification, 1).
    public var targetCount: Int {
        if classLabel != nil { return 1 }
        guard labels.count > 1 else { return 0 }
        return labels[1...].reduce(0) { $0 + ($1 == Self.ignoreIndex ? 0 : 1) }
    }
}
