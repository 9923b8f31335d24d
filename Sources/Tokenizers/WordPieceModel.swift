/// WordPiece (BERT): greedy longest-match-first within each pre-token; pieces after the first carry
/// the continuation prefix (`##`). A word with no full segmentation, or longer than
/// `maxInputCharactersPerWord`, becomes the unknown token.
struct WordPieceModel: Sendable {
    let vocabulary: Vocabulary
    var tokens: [String?] { vocabulary.tokens }
    let unknownToken: String
    let continuingSubwordPrefix: String
    let maxInputCharactersPerWord: Int

    init(vocabulary: Vocabulary, unknownToken: String, continuingSubwordPrefix: String, maxInputCharactersPerWord: Int) throws {
        guard vocabulary[unknownToken] != nil else {
            throw TokenizerError.invalidValue(field: "model.unk_token", reason: "'\(unknownToken)' is not in the vocabulary")
        }
        self.vocabulary = vocabulary
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        guard !word.isEmpty else { return [] }
        let unknown = vocabulary[unknownToken]!
        if word.count > maxInputCharactersPerWord { return [unknown] }
        var result: [Int] = []
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int? = nil
            while start < end {
                let piece = ScalarText.string(word[start..<end])
                let candidate = start > 0 ? continuingSubwordPrefix + piece : piece
                if let id = vocabulary[candidate] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            result.append(id)
            start = end
        }
        return result
    }
}
