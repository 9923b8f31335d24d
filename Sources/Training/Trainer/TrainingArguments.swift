import Foundation
import Tensors

/// What to do when the loss or a gradient is NaN or infinite.
public enum NonFinitePolicy: String, Sendable, Codable, CaseIterable {
    /// Stop with `TrainingError.nonFinite` naming the step and the tensor (the default).
    case stop
    /// Skip the update (gradients are dropped), count it and continue.
    case skip
}

/// The optimizers the trainer can build.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    /// AdamW with decoupled weight decay (biases and norm weights excluded), as `torch.optim.AdamW`.
    case adamW = "adamw"
    /// Stochastic gradient descent with optional momentum.
    case sgd
}

/// Hyper-parameters and bookkeeping of a training run, named after Hugging Face's
/// `TrainingArguments` (and readable from a JSON file with these property names).
///
/// Five defaults differ from Hugging Face's, on purpose: `learningRate` 2e-4 (theirs 5e-5, a
/// full-fine-tuning rate; adapters start at zero and want more), `loggingSteps` 10 (500: runs here
/// are short), `saveTotalLimit` 2 (unlimited: a laptop's disk), `groupByLength` true (false: padding
/// is CPU time) and `seed` 0 (42).
public struct TrainingArguments: Sendable, Codable, Equatable {
    /// Where checkpoints, logs and the final adapter go (nil: nothing is written).
    public var outputDirectory: String?
    /// Passes over the training set (fractions allowed); ignored when `maxSteps` is set.
    public var epochs: Double = 1
    /// Total optimizer steps; overrides `epochs`.
    public var maxSteps: Int?
    /// Examples per micro-batch.
    public var batchSize: Int = 8
    /// Examples per evaluation batch (default: `batchSize`).
    public var evalBatchSize: Int?
    /// Micro-batches whose gradients are summed before each update; the loss is normalised by the
    /// number of targets of the whole step, so k micro-batches equal one k-times larger batch.
    public var gradientAccumulationSteps: Int = 1
    /// Peak learning rate.
    public var learningRate: Float = 2e-4
    /// Weight decay (AdamW: decoupled; SGD: L2).
    public var weightDecay: Float = 0
    /// AdamW β₁.
    public var adamBeta1: Float = 0.9
    /// AdamW β₂.
    public var adamBeta2: Float = 0.999
    /// AdamW ε.
    public var adamEpsilon: Float = 1e-8
    /// The optimizer.
    public var optimizer: OptimizerKind = .adamW
    /// SGD momentum.
    public var sgdMomentum: Float = 0
    /// Linear warm-up steps (takes precedence over `warmupRatio`).
    public var warmupSteps: Int = 0
    /// Warm-up as a fraction of all steps.
    public var warmupRatio: Double = 0
    /// Decay after warm-up.
    public var schedule: WarmupSchedule.Shape = .linear
    /// Global gradient-norm clipping (nil: none).
    public var maxGradientNorm: Double? = 1
    /// λ of the KL anchor: each step's loss adds λ · KL(base ‖ model), the mean per-token KL from
    /// the base model on the batch's labelled tokens (the base is the same weights with the adapter
    /// off, so there is no second copy; it gets no gradient). Keeps a fine-tune close to what the
    /// model knew; nil or 0: off. Language models only.
    public var klAnchor: Double? = nil
    /// Log the mean training loss every this many steps.
    public var loggingSteps: Int = 10
    /// Evaluate every this many steps (nil: at the end of every epoch and of training, when there is an evaluation set).
    public var evalSteps: Int?
    /// Save a checkpoint every this many steps (nil: no intermediate checkpoints).
    public var saveSteps: Int?
    /// Checkpoints kept: the newest this many, plus the best (nil: all).
    public var saveTotalLimit: Int? = 2
    /// Seeds adapter dropout and the data order.
    public var seed: UInt64 = 0
    /// Shuffle the training set every epoch.
    public var shuffle: Bool = true
    /// Batch examples of similar length together.
    public var groupByLength: Bool = true
    /// NaN or infinite loss or gradients: stop or skip the update.
    public var nonFinite: NonFinitePolicy = .stop
    /// The metric that defines the best checkpoint and early stopping (`eval_loss`, `eval_f1`, …).
    public var metricForBestModel: String = "eval_loss"
    /// Whether larger values of the metric are better (default: false for losses and perplexity, true otherwise).
    public var greaterIsBetter: Bool?
    /// Restore the best weights seen at an evaluation when training ends.
    public var loadBestModelAtEnd: Bool = false
    /// Allow writing into an output folder that already holds results.
    public var overwriteOutput: Bool = false
    /// Also measure exact match (greedy generation) at periodic evaluations (it costs a generation per example).
    public var exactMatchDuringTraining: Bool = false
    /// Most tokens generated per example for exact match.
    public var maxNewTokens: Int = 32
    /// Pack several short examples into each row (language modeling): attention stays inside each
    /// example, nothing is predicted across examples; rows hold up to `packedRowLength` tokens and
    /// `batchSize` counts rows. The epoch's step count is estimated from its first epoch.
    public var packing: Bool = false
    /// Tokens per packed row (default: the longest training example).
    public var packedRowLength: Int?
    /// Recompute each block's activations in backward instead of keeping them (less memory, about
    /// a third more compute); the model must conform to `GradientCheckpointing`.
    public var gradientCheckpointing: Bool = false
    /// Arithmetic of the large products in training steps (forward and backward): `.float32` (default),
    /// `.float16` (mixed precision at about twice the rate on CPUs with AVX512-FP16) or `.bfloat16` (for
    /// CPUs with AVX512-BF16 but no FP16, such as AMD Zen 4); see `MatmulPrecision` and
    /// `GEMM.isAvailable(_:)`. Evaluation and generation always run in float32.
    public var matmulPrecision: MatmulPrecision = .float32
    /// Stop after the current step on Ctrl-C (SIGINT) and save a checkpoint. Off by default in the
    /// library (it replaces the process's SIGINT handler while training); `peftkit train` turns it on.
    public var handlesInterrupt: Bool = false

    /// Hugging Face's defaults (see each property).
    public init() {}

    /// Arguments with the most common fields set.
    public init(outputDirectory: String? = nil, learningRate: Float = 2e-4, epochs: Double = 1, maxSteps: Int? = nil, batchSize: Int = 8,
                gradientAccumulationSteps: Int = 1, seed: UInt64 = 0) {
        self.outputDirectory = outputDirectory
        self.learningRate = learningRate
        self.epochs = epochs
        self.maxSteps = maxSteps
        self.batchSize = batchSize
        self.gradientAccumulationSteps = gradientAccumulationSteps
        self.seed = seed
    }

    /// Whether a larger `metricForBestModel` is better.
    public var largerMetricIsBetter: Bool { greaterIsBetter ?? Self.largerIsBetter(metricForBestModel) }

    /// Whether a larger value of the metric `name` is better: not for losses and perplexities.
    public static func largerIsBetter(_ name: String) -> Bool { !(name.hasSuffix("loss") || name.hasSuffix("perplexity")) }

    /// Checks every range.
    /// - Throws: `TrainingError.invalidArgument` naming the field.
    public func validate() throws {
        func require(_ condition: Bool, _ name: String, _ reason: String) throws {
            if !condition { throw TrainingError.invalidArgument(name: name, reason: reason) }
        }
        try require(epochs.isFinite && epochs > 0 && epochs <= 1_000_000, "epochs", "must be positive, got \(epochs)")
        try require(maxSteps.map { $0 > 0 } ?? true, "maxSteps", "must be positive")
        try require(batchSize > 0 && batchSize <= 1 << 16, "batchSize", "must be in 1…65536, got \(batchSize)")
        try require((evalBatchSize ?? 1) > 0, "evalBatchSize", "must be positive")
        try require(gradientAccumulationSteps > 0 && gradientAccumulationSteps <= 1 << 16, "gradientAccumulationSteps", "must be in 1…65536")
        try require(learningRate.isFinite && learningRate >= 0 && learningRate < 100, "learningRate", "must be in [0, 100), got \(learningRate)")
        try require(weightDecay.isFinite && weightDecay >= 0, "weightDecay", "must be ≥ 0")
        try require(adamBeta1 >= 0 && adamBeta1 < 1 && adamBeta2 >= 0 && adamBeta2 < 1, "adamBeta1/adamBeta2", "must be in [0, 1)")
        try require(adamEpsilon > 0 && adamEpsilon.isFinite, "adamEpsilon", "must be positive")
        try require(sgdMomentum >= 0 && sgdMomentum < 1, "sgdMomentum", "must be in [0, 1)")
        try require(warmupSteps >= 0, "warmupSteps", "must be ≥ 0")
        try require(warmupRatio >= 0 && warmupRatio <= 1, "warmupRatio", "must be in [0, 1]")
        try require(maxGradientNorm.map { $0 > 0 && $0.isFinite } ?? true, "maxGradientNorm", "must be positive")
        try require(klAnchor.map { $0 >= 0 && $0.isFinite && $0 <= 1e6 } ?? true, "klAnchor", "must be a finite number in 0…1e6")
        try require(loggingSteps > 0, "loggingSteps", "must be positive")
        try require(evalSteps.map { $0 > 0 } ?? true, "evalSteps", "must be positive")
        try require(saveSteps.map { $0 > 0 } ?? true, "saveSteps", "must be positive")
        try require(saveTotalLimit.map { $0 > 0 } ?? true, "saveTotalLimit", "must be positive")
        try require(maxNewTokens >= 0 && maxNewTokens <= 1 << 16, "maxNewTokens", "must be in 0…65536")
        try require(packedRowLength.map { $0 > 1 } ?? true, "packedRowLength", "must be at least 2")
        try require(!metricForBestModel.isEmpty, "metricForBestModel", "must not be empty")
    }
}
