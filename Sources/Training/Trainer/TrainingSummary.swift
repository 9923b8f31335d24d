import Foundation

/// The numbers a run ends with (`Trainer.train()`'s result).
public struct TrainingSummary: Sendable, Equatable {
    /// Optimizer steps done in total.
    public var steps: Int
    /// Epochs done, fractional.
    public var epochs: Double
    /// Seconds this call trained (after any resume).
    public var trainRuntime: Double
    /// Examples per second in this call.
    public var trainSamplesPerSecond: Double
    /// Optimizer steps per second in this call.
    public var trainStepsPerSecond: Double
    /// Seconds this call spent in optimizer steps alone (batching, forward, backward, update):
    /// `trainRuntime` without evaluation, checkpoints and saving. What speed comparisons use.
    public var stepRuntime: Double = 0
    /// Examples per second of `stepRuntime`.
    public var stepSamplesPerSecond: Double = 0
    /// Mean of the steps' training losses (the whole run, resumed steps included).
    public var trainLoss: Double
    /// Trainable scalars.
    public var trainableParameters: Int
    /// Best value of the metric for the best model, if evaluated.
    public var bestMetric: Double?
    /// Step of the best evaluation.
    public var bestStep: Int?
    /// Updates skipped for non-finite values.
    public var skippedSteps: Int
    /// True when Ctrl-C ended the run.
    public var interrupted: Bool
    /// Seconds this call spent summing gradients over data-parallel members, waiting for the
    /// slowest included (0 for one process; reported as `communication_runtime` when not 0).
    public var communicationRuntime: Double = 0

    /// The fields under Hugging Face Trainer's names plus `trainable_parameters` (and others the
    /// caller adds, such as `peak_rss_mb`), as one JSON object line with sorted keys.
    public func jsonLine(adding extra: [String: Double] = [:]) -> String {
        var fields: [String: Double] = [
            "train_runtime": trainRuntime, "train_samples_per_second": trainSamplesPerSecond,
            "train_steps_per_second": trainStepsPerSecond, "train_loss": trainLoss, "epoch": epochs,
            "global_step": Double(steps), "trainable_parameters": Double(trainableParameters),
            "step_runtime": stepRuntime, "step_samples_per_second": stepSamplesPerSecond,
        ]
        if communicationRuntime > 0 { fields["communication_runtime"] = communicationRuntime }
        fields.merge(extra) { _, new in new }
        return JSONLine.object(fields)
    }
}

/// Writes flat JSON objects of numbers (non-finite values become null, integral values print without
/// a fraction), keys sorted: the machine-readable lines of `peftkit train` and `peftkit eval`.
public enum JSONLine {
    /// `{"a": 1, "b": 0.5}`.
    public static func object(_ fields: [String: Double]) -> String {
        "{" + fields.keys.sorted().map { "\"\($0)\": \(number(fields[$0]!))" }.joined(separator: ", ") + "}"
    }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
