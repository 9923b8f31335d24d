import Foundation
import ModelIO

/// What callbacks ask of the run after a hook (Hugging Face's `TrainerControl`): flags that combine
/// across callbacks — any callback asking to stop, save, evaluate or log makes it happen.
public struct TrainerControl: Sendable, Equatable {
    /// End training after the current step (a checkpoint is saved when the run has an output
    /// folder). Hugging Face's `should_training_stop`.
    public var shouldStop: Bool
    /// Save a checkpoint after the current step (`should_save`).
    public var shouldSave: Bool
    /// Evaluate after the current step (`should_evaluate`).
    public var shouldEvaluate: Bool
    /// Log the training loss after the current step (`should_log`).
    public var shouldLog: Bool
    /// End the run at once with `TrainingError.callbackFailed(reason)` (a log that cannot be
    /// written, say): nothing more is written, and the last complete checkpoint stays usable.
    public var failure: String?

    /// Flags as given (all off by default: carry on).
    public init(shouldStop: Bool = false, shouldSave: Bool = false, shouldEvaluate: Bool = false, shouldLog: Bool = false, failure: String? = nil) {
        self.shouldStop = shouldStop
        self.shouldSave = shouldSave
        self.shouldEvaluate = shouldEvaluate
        self.shouldLog = shouldLog
        self.failure = failure
    }

    /// Carry on.
    public static let proceed = TrainerControl()
    /// Stop after the current step.
    public static let stop = TrainerControl(shouldStop: true)
    /// Save a checkpoint after the current step.
    public static let save = TrainerControl(shouldSave: true)
    /// Evaluate after the current step.
    public static let evaluate = TrainerControl(shouldEvaluate: true)
    /// Log the training loss after the current step.
    public static let log = TrainerControl(shouldLog: true)
    /// End the run at once with `TrainingError.callbackFailed(reason)`.
    public static func fail(_ reason: String) -> TrainerControl { TrainerControl(failure: reason) }

    /// Both requests: a flag set by either is set; the first failure wins.
    public func merged(with other: TrainerControl) -> TrainerControl {
        TrainerControl(shouldStop: shouldStop || other.shouldStop, shouldSave: shouldSave || other.shouldSave,
                       shouldEvaluate: shouldEvaluate || other.shouldEvaluate, shouldLog: shouldLog || other.shouldLog,
                       failure: failure ?? other.failure)
    }
}

extension Sequence where Element == TrainerControl {
    /// Every request of the sequence together.
    public var merged: TrainerControl { reduce(.proceed) { $0.merged(with: $1) } }
}

/// Hooks into a training run. Every hook has a default that does nothing, so a callback implements
/// only what it needs; what hooks return combines (`TrainerControl`): any `.stop` ends training
/// after the current step, any `.save`/`.evaluate`/`.log` makes that happen after it. When to log,
/// evaluate and save by the arguments is itself a callback, the trainer's `flow` (`DefaultFlow`).
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
    /// When an epoch starts (`trainer.state.epoch`; at the start of a run too, unless resuming mid-epoch).
    func onEpochBegin(_ trainer: Trainer)
    /// Before every optimizer step.
    func onStepBegin(_ trainer: Trainer)
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
    /// Does nothing.
    public func onEpochBegin(_ trainer: Trainer) {}
    /// Does nothing.
    public func onStepBegin(_ trainer: Trainer) {}
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

/// When to log, evaluate and save, from the arguments (Hugging Face's `DefaultFlowCallback`): the
/// training loss every `loggingSteps` and at the last step, an evaluation every `evalSteps` (or at
/// each epoch's end) when there is something to evaluate, a checkpoint every `saveSteps`. A trainer's
/// `flow` can be replaced to decide otherwise.
public final class DefaultFlow: TrainerCallback {
    /// A flow.
    public init() {}

    /// The flags the arguments ask for at this step.
    public func onStepEnd(_ trainer: Trainer) -> TrainerControl {
        let step = trainer.state.step, arguments = trainer.arguments
        var control = TrainerControl.proceed
        control.shouldLog = step % arguments.loggingSteps == 0 || step == trainer.state.totalSteps
        let epochEnded = trainer.state.batchCursor >= trainer.state.batchesPerEpoch
        control.shouldEvaluate = trainer.evaluates && (arguments.evalSteps.map { step % $0 == 0 } ?? epochEnded)
        control.shouldSave = arguments.saveSteps.map { step % $0 == 0 } ?? false
        return control
    }
}
