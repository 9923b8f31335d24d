/// Which sequence of a batch each row of the current activations belongs to, when sequences of
/// different lengths are run together (continuous batching: one row per new token of each
/// sequence). Layers that treat sequences differently — an adapter chosen per sequence — read it;
/// nil means row `i` is sequence `i`.
///
/// Bound around a forward pass by the model that lays out the batch:
/// `SequenceRows.$current.withValue(rows) { … }` (task-local, so concurrent work keeps its own).
public enum SequenceRows {
    /// The sequence index of each activation row, or nil.
    @TaskLocal public static var current: [Int]? = nil
}
