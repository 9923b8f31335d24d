/// The subword model at the heart of a tokenizer.
enum TokenizationModel: Sendable {
    case bpe(BPEModel)
    case wordPiece(WordPieceModel)
    case unigram(UnigramModel)

    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        switch self {
        case let .bpe(model): return model.tokenize(word)
        case let .wordPiece(model): return model.tokenize(word)
        case let .unigram(model): return model.tokenize(word)
        }
    }

    func token(for id: Int) -> String? {
        switch self {
        case let .bpe(model): return id >= 0 && id < model.tokens.count ? model.tokens[id] : nil
        case let .wordPiece(model): return id >= 0 && id < model.tokens.count ? model.tokens[id] : nil
        case let .unigram(model): return id >= 0 && id < model.pieces.count ? model.pieces[id].token : nil
        }
    }

    func id(for token: String) -> Int? {
        switch self {
        case let .bpe(model): return model.vocabulary[token]
        case let .wordPiece(model): return model.vocabulary[token]
        case let .unigram(model): return model.vocabulary[token]
        }
    }

    var size: Int {
        switch self {
        case let .bpe(model): return model.tokens.count
        case let .wordPiece(model): return model.tokens.count
        case let .unigram(model): return model.pieces.count
        }
    }
}
