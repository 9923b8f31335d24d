/// Unigram language-model tokenization (SentencePiece "unigram"): the segmentation with the highest
/// total log-probability, found by Viterbi over a trie of the vocabulary. Characters with no piece
/// become the unknown token (or UTF-8 byte tokens with byte fallback); consecutive unknowns fuse.
struct UnigramModel: Sendable {
    let pieces: [(token: String, score: Double)]
    let vocabulary: Vocabulary
    let unknownID: Int?
    let byteFallback: Bool
    let byteTokenIDs: [Int?]
    /// Maximum piece length in scalars (bounds the Viterbi inner loop).
    let maxPieceLength: Int
    let minimumScore: Double

    init(pieces: [(String, Double)], unknownID: Int?, byteFallback: Bool) throws {
        self.pieces = pieces.map { (token: $0.0, score: $0.1) }
        var seen = Set<ExactString>()
        var entries: [(String, Int)] = []
        for (id, piece) in pieces.enumerated() where seen.insert(ExactString(piece.0)).inserted { entries.append((piece.0, id)) }
        let vocabulary = try Vocabulary(entries, field: "model.vocab")
        self.vocabulary = vocabulary
        if let unknownID, !(0..<pieces.count).contains(unknownID) {
            throw TokenizerError.invalidValue(field: "model.unk_id", reason: "\(unknownID) is outside the vocabulary of \(pieces.count)")
        }
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        self.byteTokenIDs = (0..<256).map { vocabulary[String(format: "<0x%02X>", $0)] }
        self.maxPieceLength = max(1, pieces.map { $0.0.unicodeScalars.count }.max() ?? 1)  // empty pieces never match
        self.minimumScore = pieces.map(\.1).min() ?? 0
    }

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        let n = word.count
        guard n > 0 else { return [] }
        // The unknown penalty follows SentencePiece: min score − 10.
        let unknownScore = minimumScore - 10
        var best = [Double](repeating: -.infinity, count: n + 1)
        var backPointer = [(start: Int, id: Int?)](repeating: (0, nil), count: n + 1)
        best[0] = 0
        for start in 0..<n where best[start] > -.infinity {
            var hasSingleScalarPiece = false
            var piece = String.UnicodeScalarView()
            for length in 1...min(maxPieceLength, n - start) {
                piece.append(word[start + length - 1])
                guard let id = vocabulary[String(piece)] else { continue }
                if length == 1 { hasSingleScalarPiece = true }
                let score = best[start] + pieces[id].score
                if score > best[start + length] {
                    best[start + length] = score
                    backPointer[start + length] = (start, id)
                }
            }
            if !hasSingleScalarPiece {
                // A scalar no piece covers: an unknown node of length one.
                let score = best[start] + unknownScore
                if score > best[start + 1] {
                    best[start + 1] = score
                    backPointer[start + 1] = (start, nil)
                }
            }
        }
        var segments: [(Range<Int>, Int?)] = []
        var position = n
        while position > 0 {
            let pointer = backPointer[position]
            segments.append((pointer.start..<position, pointer.id))
            position = pointer.start
        }
        segments.reverse()
        var result: [Int] = []
        var previousUnknown = false
        for (range, id) in segments {
            if let id {
                result.append(id)
                previousUnknown = false
                continue
            }
            if byteFallback {
                let bytes = ScalarText.utf8(word[range])
                if bytes.allSatisfy({ byteTokenIDs[Int($0)] != nil }) {
                    result.append(contentsOf: bytes.map { byteTokenIDs[Int($0)]! })
                    previousUnknown = false
                    continue
                }
            }
            if let unknownID, !previousUnknown { result.append(unknownID) }
            previousUnknown = true
        }
        return result
    }
}
