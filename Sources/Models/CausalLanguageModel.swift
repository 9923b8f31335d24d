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
    /// Final (normalised) hidden states `(B, P + T, C)` of `ids` laid out `(B, T)`: the training path.
    ///
    /// - Parameters:
    ///   - keyMask: `B·T` flags, false for padding keys.
    ///   - cache: keys and values of earlier positions (generation); nil when training.
    ///   - prefix: `P` embeddings `[P, C]` placed before every row (prompt tuning's virtual tokens).
    ///   - segments: `B·T` ids of examples packed into one row (training); attention stays inside each.
    func hiddenStates(_ ids: [Int], batch: Int, keyMask: [Bool]?, cache: KeyValueCache?, prefix: Variable?, segments: [Int]?) throws -> Variable
    /// Vocabulary logits `[…, V]` of hidden states `[…, C]` (the language-model head). Callers may pass
    /// only the rows they need, e.g. the positions that carry a label.
    func logits(from hidden: Variable) -> Variable
    /// Virtual-token embeddings `[P, C]` that start every sequence when no `prefix` is given: an
    /// attached prompt-tuning adapter (a `PeftModel` sets and clears it), so that every entry point
    /// — `hiddenStates`, `lastLogits`, generation — answers as the adapted model.
    var attachedPrefix: Variable? { get set }
}
