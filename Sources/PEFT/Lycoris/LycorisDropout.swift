import Autograd
import NN
import Tensors

/// The two training-time dropouts of the LyCORIS methods, as PEFT applies them to a ΔW `[out, in]`:
/// `module_dropout` skips the adapter for the whole pass; `rank_dropout` zeroes whole output rows
/// (optionally rescaling the kept ones by the fraction kept).
///
/// The draws come from a `Dropout` module's generator, kept in the layer's tree so checkpoints save
/// and restore it like every other dropout's.
struct LycorisDropout {
    var rankDropout: Double
    var moduleDropout: Double
    /// Whether kept rows are divided by the fraction kept (LoHa always; LoKr with `rank_dropout_scale`).
    var rescales: Bool

    /// ΔW as the pass uses it, or nil when the adapter is skipped for this pass.
    func apply(_ delta: Variable, training: Bool, random: Dropout) -> Variable? {
        guard training, rankDropout > 0 || moduleDropout > 0 else { return delta }
        if moduleDropout > 0 && random.generator.nextUniformDouble() <= moduleDropout { return nil }
        guard rankDropout > 0 else { return delta }
        let rows = delta.shape[0]
        let keep = (0..<rows).map { _ in random.generator.nextUniformDouble() > rankDropout ? Float(1) : 0 }
        let kept = keep.reduce(0, +)
        // Every row dropped: PEFT would divide by a zero mean (NaN); the update is skipped instead.
        guard kept > 0 else { return nil }
        let factor = rescales ? Float(rows) / kept : 1
        return delta * Variable(Tensor(keep.map { $0 * factor }, shape: [rows, 1]))
    }
}
