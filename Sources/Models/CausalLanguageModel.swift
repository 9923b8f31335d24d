import Autograd
import NN

/// A decoder-only language model that can continue a sequence with a key/value cache.
public protocol CausalLanguageModel: Module {
    /// Number of token ids the model has embeddings and logits for.
    var vocabularySize: Int { get }
    /// Most positions a sequence may have (prompt and generated tokens together).
    var contextLength: Int { get }
    /// A fresh cache for one sequence.
    func makeCache() -> KeyValueCache
    /// Runs `ids` (one sequence, after the cached positions) and returns the vocabulary logits of the
    /// last position, appending the new keys and values to `cache`.
    func lastLogits(_ ids: [Int], cache: KeyValueCache) throws -> [Float]
}
