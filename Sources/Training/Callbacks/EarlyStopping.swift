import Foundation
import ModelIO
import Tensors

/// Stops training when a metric has not improved by more than `minimumDelta` for `patience`
/// evaluations in a row, and puts back the weights of the best evaluation when training ends.
public final class EarlyStopping: TrainerCallback {
    /// Evaluations without improvement tolerated.
    public let patience: Int
    /// Smallest change that counts as an improvement.
    public let minimumDelta: Double
    /// The metric watched (default: the trainer's `metricForBestModel`).
    public let metric: String?
    /// Restore the best weights at the end.
    public let restoresBestWeights: Bool

    /// Best value so far.
    public private(set) var best: Double?
    /// Evaluations since the last improvement.
    public private(set) var evaluationsWithoutImprovement = 0
    /// The step training was stopped at, if it was.
    public private(set) var stoppedAtStep: Int?

    /// - Parameters:
    ///   - patience: evaluations without improvement before stopping.
    ///   - minimumDelta: a change smaller than this is no improvement.
    ///   - metric: the watched metric (default: the trainer's `metricForBestModel`).
    ///   - restoresBestWeights: put back the best evaluation's weights when training ends.
    public init(patience: Int, minimumDelta: Double = 0, metric: String? = nil, restoresBestWeights: Bool = true) {
        precondition(patience > 0, "EarlyStopping: patience must be positive")
        self.patience = patience
        self.minimumDelta = max(0, minimumDelta)
        self.metric = metric
        self.restoresBestWeights = restoresBestWeights
    }

    /// Has the trainer keep the best weights of the watched metric (the trainer is the one place
    /// best weights are kept, and its checkpoints carry them, so a resumed run still restores them).
    public func onTrainBegin(_ trainer: Trainer) {
        if let metric { trainer.bestModelMetric = metric }
        if restoresBestWeights { trainer.keepsBestWeights = true }
    }

    /// Counts evaluations without improvement; `.stop` after `patience` of them.
    public func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl {
        let name = metric ?? trainer.arguments.metricForBestModel
        guard let value = metrics[name], value.isFinite else { return .proceed }
        let larger = trainer.arguments.greaterIsBetter ?? TrainingArguments.largerIsBetter(name)
        let improved = best.map { larger ? value > $0 + minimumDelta : value < $0 - minimumDelta } ?? true
        if improved {
            best = value
            evaluationsWithoutImprovement = 0
            return .proceed
        }
        evaluationsWithoutImprovement += 1
        if evaluationsWithoutImprovement >= patience {
            stoppedAtStep = trainer.state.step
            return .stop
        }
        return .proceed
    }

    /// Restores the best weights (when `restoresBestWeights`).
    public func onTrainEnd(_ trainer: Trainer) {
        guard restoresBestWeights, let best = trainer.bestWeights else { return }
        trainer.restoreTrainable(best)
    }

    /// The best value and the count of evaluations without improvement.
    public func checkpointState() -> JSONValue? {
        var fields: [(String, JSONValue)] = [("evaluations_without_improvement", .number(Double(evaluationsWithoutImprovement)))]
        if let best { fields.append(("best", .number(best))) }
        return .object(fields)
    }

    /// Restores what `checkpointState()` saved.
    public func restore(checkpointState: JSONValue) throws {
        best = checkpointState["best"]?.number
        evaluationsWithoutImprovement = checkpointState["evaluations_without_improvement"]?.integer ?? 0
    }
}
