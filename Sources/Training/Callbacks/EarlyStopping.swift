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
    private var bestWeights: [String: Tensor]?

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

    /// When the watched metric is the trainer's own, the trainer keeps the best weights (and its
    /// checkpoints carry them, so a resumed run still restores them).
    public func onTrainBegin(_ trainer: Trainer) {
        if usesTrainerBest(trainer) && restoresBestWeights { trainer.keepsBestWeights = true }
    }

    private func usesTrainerBest(_ trainer: Trainer) -> Bool { metric == nil || metric == trainer.arguments.metricForBestModel }

    /// Counts evaluations without improvement; `.stop` after `patience` of them.
    public func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl {
        let name = metric ?? trainer.arguments.metricForBestModel
        guard let value = metrics[name], value.isFinite else { return .proceed }
        let larger = trainer.arguments.greaterIsBetter ?? !(name.hasSuffix("loss") || name.hasSuffix("perplexity"))
        let improved = best.map { larger ? value > $0 + minimumDelta : value < $0 - minimumDelta } ?? true
        if improved {
            best = value
            evaluationsWithoutImprovement = 0
            if restoresBestWeights && !usesTrainerBest(trainer) { bestWeights = trainer.snapshotTrainable() }
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
        guard restoresBestWeights else { return }
        if let best = usesTrainerBest(trainer) ? trainer.bestWeights : bestWeights { trainer.restoreTrainable(best) }
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
