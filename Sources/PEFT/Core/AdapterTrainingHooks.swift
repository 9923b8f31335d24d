import Autograd
import NN
import Tensors

/// What a method does while it trains beyond forward and backward — AdaLoRA's orthogonality
/// penalty and rank allocator. The `Trainer` calls these for the active adapter, so a method that
/// needs them trains correctly without the user writing a callback.
public protocol AdapterTrainingHooks: AnyObject {
    /// A differentiable penalty added once per optimizer step to the loss (its gradient joins the
    /// step's before clipping), or nil for none.
    func regularization() -> Variable?
    /// Runs after optimizer step `step` (0-based: the number of steps completed before it, PEFT's
    /// `global_step`), while the step's gradients are still present.
    func afterOptimizerStep(_ step: Int) throws
    /// The state a checkpoint keeps so that a resumed run continues bit for bit, by name.
    func checkpointState() -> [String: Tensor]
    /// Restores `checkpointState()`; throws when it does not fit the adapter.
    func restoreCheckpointState(_ state: [String: Tensor]) throws
}

extension LayerAdapterConfiguration {
    /// None: most methods train with forward and backward alone.
    public func trainingHooks(_ name: String, model: Module, store: @escaping (any AdapterConfiguration) -> Void) -> (any AdapterTrainingHooks)? { nil }
}
