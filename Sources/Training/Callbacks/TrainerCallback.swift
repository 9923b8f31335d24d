import Foundation
import ModelIO

/// What a callback asks of the trainer after a hook.
public enum TrainerControl: Sendable, Equatable {
    /// Carry on.
    case proceed
    /// Stop after the current step (a checkpoint is saved when the run has an output folder).
    case stop
    /// End the run at once with `TrainingError.callbackFailed(reason)` (a log that cannot be
    /// written, say): nothing more is written, and the last complete checkpoint stays usable.
    case fail(String)

    /// The reason of a `.fail`.
    public var failure: String? {
        if case let .fail(reason) = self { return reason }
        return nil
    }
}

/// Hooks into a training run. Every hook has a default that does nothing, so a callback implements
/// only what it needs; any hook that returns `.stop` ends training after the current step.
///
/// ```swift
/// final class PrintLoss: TrainerCallback {
///     func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl {
///         if let loss = entry.values["loss"] { print(entry.step, loss) }
///         return .proceed
///     }
/// }
/// ```
public protocol TrainerCallback: AnyObject {
    /// Before the first step (also when resuming).
    func onTrainBegin(_ trainer: Trainer)
    /// After every optimizer step.
    func onStepEnd(_ trainer: Trainer) -> TrainerControl
    /// After a row was logged (training loss every `loggingSteps`, or evaluation metrics).
    func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl
    /// After an evaluation, with its metrics (`eval_loss`, …).
    func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl
    /// After a checkpoint was written to `checkpoint`.
    func onSave(_ trainer: Trainer, checkpoint: URL)
    /// When training ends (normally, stopped, or interrupted), before the final adapter is written.
    func onTrainEnd(_ trainer: Trainer)
    /// State to keep in checkpoints so a resumed run behaves the same (nil: none).
    func checkpointState() -> JSONValue?
    /// Restores what `checkpointState()` returned.
    func restore(checkpointState: JSONValue) throws
    /// The key its state is stored under (unique among a run's callbacks).
    var checkpointKey: String { get }
}

extension TrainerCallback {
    /// Does nothing.
    public func onTrainBegin(_ trainer: Trainer) {}
    /// Carries on.
    public func onStepEnd(_ trainer: Trainer) -> TrainerControl { .proceed }
    /// Carries on.
    public func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl { .proceed }
    /// Carries on.
    public func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl { .proceed }
    /// Does nothing.
    public func onSave(_ trainer: Trainer, checkpoint: URL) {}
    /// Does nothing.
    public func onTrainEnd(_ trainer: Trainer) {}
    /// No state.
    public func checkpointState() -> JSONValue? { nil }
    /// Nothing to restore.
    public func restore(checkpointState: JSONValue) throws {}
    /// The callback's type name.
    public var checkpointKey: String { String(describing: type(of: self)) }
}
