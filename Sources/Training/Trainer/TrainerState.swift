import Foundation

/// One logged row: the step, the (fractional) epoch, and named values in Hugging Face's vocabulary
/// (`loss`, `learning_rate`, `grad_norm`, `eval_loss`, `eval_perplexity`, `eval_accuracy`, …).
public struct LogEntry: Sendable, Codable, Equatable {
    /// Optimizer steps done.
    public var step: Int
    /// Epochs done, fractional.
    public var epoch: Double
    /// The values.
    public var values: [String: Double]

    /// A row.
    public init(step: Int, epoch: Double, values: [String: Double]) {
        self.step = step
        self.epoch = epoch
        self.values = values
    }
}

/// Where a run is: everything besides weights and optimizer moments that a checkpoint must hold for
/// a resumed run to continue bit for bit.
public struct TrainerState: Sendable, Codable, Equatable {
    /// Optimizer steps done.
    public var step = 0
    /// The epoch being read.
    public var epoch = 0
    /// Micro-batches of `epoch` already consumed.
    public var batchCursor = 0
    /// All optimizer steps of the run.
    public var totalSteps = 0
    /// Micro-batches per epoch.
    public var batchesPerEpoch = 0
    /// The training loss of every step (mean over its targets), in order.
    public var stepLosses: [Double] = []
    /// Steps whose update was skipped for a non-finite loss or gradient.
    public var skippedSteps: [Int] = []
    /// Everything logged so far.
    public var logHistory: [LogEntry] = []
    /// Best value of the metric for the best model, and the step it was reached at.
    public var bestMetric: Double?
    /// Step of the best evaluation.
    public var bestStep: Int?
    /// Tokens and examples trained on.
    public var trainedTokens = 0
    /// Examples trained on (counting repeats over epochs).
    public var trainedExamples = 0
    /// Sum of step losses since the last log, and their number.
    public var lossSinceLog = 0.0
    /// Steps since the last log.
    public var stepsSinceLog = 0
    /// Set when a callback or an interrupt asked to stop.
    public var stopRequested = false

    /// The state before the first step.
    public init() {}

    /// Epochs done, fractional (as the logs show it).
    public var fractionalEpoch: Double {
        batchesPerEpoch == 0 ? 0 : Double(epoch) + Double(batchCursor) / Double(batchesPerEpoch)
    }
}
