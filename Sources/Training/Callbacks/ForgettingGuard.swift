import Foundation
import ModelIO
import Tensors

/// Stops training when any retain set's KL from the base (`retain_<name>_kl`) passes `maximumKL`,
/// and when training ends puts back the weights of the last evaluation that stayed within it (the
/// starting weights if none did), so the adapter written is one that kept what the model knew.
///
/// The weights within budget are held in memory, not in checkpoints: after a resume the guard
/// starts again from the resumed weights.
public final class ForgettingGuard: TrainerCallback {
    /// The largest retain KL (nats per token) allowed.
    public let maximumKL: Double
    /// The step whose evaluation first passed the budget, if one did.
    public private(set) var exceededAtStep: Int?
    /// The step of the weights that will be restored.
    public private(set) var withinBudgetStep: Int?
    private var withinBudget: [String: Tensor]?

    /// A guard allowing `maximumKL` nats per token (finite, ≥ 0).
    public init(maximumKL: Double) throws {
        guard maximumKL.isFinite, maximumKL >= 0 else {
            throw TrainingError.invalidArgument(name: "maximumKL", reason: "must be a finite number ≥ 0, got \(maximumKL)")
        }
        self.maximumKL = maximumKL
    }

    /// Remembers the starting weights (they are within any budget).
    public func onTrainBegin(_ trainer: Trainer) {
        withinBudget = trainer.snapshotTrainable()
        withinBudgetStep = trainer.state.step
    }

    /// Stops at the first evaluation past the budget; remembers the weights of those within it.
    public func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl {
        let kls = metrics.filter { $0.key.hasPrefix("retain_") && $0.key.hasSuffix("_kl") }.map(\.value)
        guard !kls.isEmpty, exceededAtStep == nil else { return .proceed }
        if kls.contains(where: { !$0.isFinite || $0 > maximumKL }) {
            exceededAtStep = trainer.state.step
            return .stop
        }
        withinBudget = trainer.snapshotTrainable()
        withinBudgetStep = trainer.state.step
        return .proceed
    }

    /// Puts back the last weights within the budget, when it was passed.
    public func onTrainEnd(_ trainer: Trainer) {
        if exceededAtStep != nil, let withinBudget { trainer.restoreTrainable(withinBudget) }
    }
}
