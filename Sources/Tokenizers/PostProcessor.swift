/// Adds the special tokens a model expects around encoded text (Hugging Face `post_processor`).
indirect enum PostProcessor: Sendable {
    enum Piece: Sendable { case special([Int]), sequenceA, sequenceB }
    case template(single: [Piece], pair: [Piece])
    case bert(cls: Int, sep: Int)
    case roberta(cls: Int, sep: Int)
    case identity
    case sequence([PostProcessor])

    func process(_ a: [Int], _ b: [Int]?) -> [Int] {
        switch self {
        case let .template(single, pair):
            let pieces = b == nil ? single : pair
            return pieces.flatMap { piece -> [Int] in
                switch piece {
                case let .special(ids): return ids
                case .sequenceA: return a
                case .sequenceB: return b ?? []
                }
            }
        case let .bert(cls, sep):
            guard let b else { return [cls] + a + [sep] }
            return [cls] + a + [sep] + b + [sep]
        case let .roberta(cls, sep):
            guard let b else { return [cls] + a + [sep] }
            return [cls] + a + [sep, sep] + b + [sep]
        case .identity:
            return b.map { a + $0 } ?? a
        case let .sequence(items):
            // Only the first item that adds tokens matters in practice; apply them in order.
            var result = a
            var second = b
            for item in items {
                result = item.process(result, second)
                second = nil
            }
            return result
        }
    }

    /// How many tokens `process` adds to a single sequence (used by truncation).
    var addedCount: Int { process([], nil).count }
}
