import Autograd
import CSignals
import Dispatch
import Foundation
import Models
import NN
import Tensors
import Tokenizers

/// Trains whatever is trainable in a model — adapters, `modules_to_save` copies, unfrozen layers —
/// on a dataset, with evaluation, logging, checkpoints, exact resume and callbacks.
///
/// ```swift
/// let trainer = try Trainer(model: peft, arguments: .init(outputDirectory: "out", learningRate: 2e-4, epochs: 3),
///                           train: train, eval: eval, tokenizer: tokenizer, callbacks: [ProgressBar()])
/// let summary = try trainer.train()
/// ```
///
/// One optimizer step: the next `gradientAccumulationSteps` micro-batches of the epoch (fewer at an
/// epoch's end) each run forward and backward with their summed loss divided by the targets of the
/// whole step; gradients are clipped to `maxGradientNorm`; the learning rate comes from the
/// schedule; the optimizer updates; gradients are dropped. No graph survives a step.
///
/// **Data parallelism.** With a `communicator` of N members (one `Trainer` per member, each with
/// the same model, data and arguments), every member draws the same global batches of
/// `batchSize × N` rows and computes its share (rows r, r + N, …); the losses are divided by the
/// global count of target tokens and the gradients summed over the members (`GradientAllReduce`)
/// before clipping, so the N members apply exactly the update one process would with the whole
/// global batch, up to summation-order rounding. Evaluation is sharded: each member evaluates its
/// share of the batches (and of the exact-match answers) and the sums are reduced. Decisions (a
/// non-finite loss, clipping, the schedule, evaluation, early stopping) come out the same on every
/// member, and a stop (a callback's, Ctrl-C or SIGUSR1 on any member) is agreed after each step; a
/// member whose training fails ends the group (`Communicator.abort`) so none waits forever. Only
/// rank 0 writes the output folder (checkpoints and the final adapter). Give callbacks that write
/// (logs, reports) to rank 0 only.
public final class Trainer {
    /// The model being trained.
    public let model: any TrainableModel
    /// The run's settings.
    public let arguments: TrainingArguments
    /// The training examples.
    public let trainDataset: TrainingDataset
    /// The evaluation examples, if any.
    public let evalDataset: TrainingDataset?
    /// Named sets of general text the model should keep answering as its base did: at every
    /// evaluation each logs `retain_<name>_loss` and `retain_<name>_kl`, the mean per-token
    /// KL(base ‖ model) on its labelled tokens (see `Divergence`).
    public let retainDatasets: [(name: String, dataset: TrainingDataset)]
    /// Log `eval_kl` (KL from the base on the evaluation set) at every evaluation of a language
    /// model: how far the model moved on the task itself. One more forward pass per batch.
    public var measuresEvalKL = true
    /// Decodes generated answers for exact match (language models).
    public let tokenizer: Tokenizer?
    /// Hooks called during the run, in order.
    public var callbacks: [any TrainerCallback]
    /// Decides when to log, evaluate and save (asked first at every step end; `DefaultFlow`
    /// follows the arguments). Replace it to decide otherwise.
    public var flow: any TrainerCallback = DefaultFlow()
    /// The optimizer (AdamW or SGD from the arguments unless given).
    public let optimizer: any Optimizer
    /// The learning-rate schedule (warm-up then the arguments' shape unless given).
    public let schedule: any LearningRateSchedule
    /// Where the run is.
    public internal(set) var state = TrainerState()
    /// The order of batches.
    public let sampler: BatchSampler
    /// The members training together (a group of one unless given).
    public let communicator: any Communicator
    /// How gradients are summed over the members.
    public var gradientAllReduce = GradientAllReduce()

    let head: ModelHead
    /// Tokens per packed row.
    let packedRowLength: Int
    /// Trainable weights at the best evaluation (kept when `keepsBestWeights`).
    public internal(set) var bestWeights: [String: Tensor]?
    /// Keep a copy of the weights of the best evaluation (set by `loadBestModelAtEnd` and by
    /// callbacks that restore them, such as `EarlyStopping`).
    public var keepsBestWeights = false
    /// The metric whose best evaluation `bestWeights` keeps (`arguments.metricForBestModel` unless a
    /// callback, such as `EarlyStopping(metric:)`, watches another).
    public var bestModelMetric: String
    /// Steps per second measurement.
    var clock = RunClock()
    /// The most recent gradient norm and learning rate (for logs and the progress bar).
    public internal(set) var lastGradientNorm: Double?
    /// The learning rate of the last step.
    public internal(set) var lastLearningRate: Float = 0
    /// The metrics of the most recent evaluation during `train()`, and the step it ran at.
    public internal(set) var lastEvaluation: (step: Int, metrics: [String: Double])?
    /// Whether `train()` first refuses a run whose predicted peak memory (`TrainingMemory`) exceeds
    /// the machine's memory or the container's limit, instead of aborting minutes later.
    public var checksMemory = true
    /// When set, every optimizer step is profiled into it operation by operation (forward, backward,
    /// gradient exchange, clipping, the optimizer): see `OperationProfile`. The first step, which
    /// faults in the memory the later ones reuse, is left out when there is more than one.
    public var operationProfile: OperationProfile?

    /// Creating a trainer calls `AllocatorTuning.keepFreedMemory()`: steps reuse freed memory
    /// instead of faulting in fresh pages.
    ///
    /// - Parameters:
    ///   - optimizer: defaults to the one `arguments.optimizer` names.
    ///   - schedule: defaults to `WarmupSchedule` with the arguments' shape and warm-up.
    ///   - communicator: the data-parallel members this trainer is one of (see the type's notes);
    ///     a group of one by default.
    /// - Throws: `TrainingError` for invalid arguments, a dataset that does not fit the model (a
    ///   classification set for a language model, labels beyond the head), or nothing trainable.
    public init(model: any TrainableModel, arguments: TrainingArguments, train: TrainingDataset, eval: TrainingDataset? = nil,
                retain: [(name: String, dataset: TrainingDataset)] = [], tokenizer: Tokenizer? = nil, callbacks: [any TrainerCallback] = [],
                optimizer: (any Optimizer)? = nil, schedule: (any LearningRateSchedule)? = nil,
                communicator: any Communicator = SingleProcessCommunicator()) throws {
        try arguments.validate()
        self.communicator = communicator
        AllocatorTuning.keepFreedMemory()
        self.model = model
        self.arguments = arguments
        self.trainDataset = train
        self.evalDataset = eval
        self.retainDatasets = retain
        self.tokenizer = tokenizer
        self.callbacks = callbacks
        self.bestModelMetric = arguments.metricForBestModel
        self.head = try model.head()
        guard !train.examples.isEmpty else { throw DatasetError.empty(path: train.source, reason: "the training set is empty") }
        for dataset in [train] + (eval.map { [$0] } ?? []) + retain.map(\.dataset) { try Self.check(dataset, fits: head) }
        try Self.checkRetainSets(retain, head: head)
        if (arguments.klAnchor ?? 0) > 0, case .classifier = head {
            throw TrainingError.invalidArgument(name: "klAnchor", reason: "anchors a language model's next-token distribution; this model is a classifier")
        }
        if case let .classification(labels) = train.task {
            // One class has nothing to tell apart: the head would reach loss 0 and learn nothing.
            let present = Set(train.examples.compactMap(\.classLabel))
            guard present.count >= 2 else {
                let only = present.first.map { "'\(labels[$0])'" } ?? "none"
                throw TrainingError.taskMismatch("every example of \(train.source) has the label \(only); a classifier needs at least two classes to learn from")
            }
        }
        if arguments.gradientCheckpointing {
            guard let checkpointing = model.module as? any GradientCheckpointing else {
                throw TrainingError.invalidArgument(name: "gradientCheckpointing", reason: "\(type(of: model.module)) does not support it")
            }
            checkpointing.gradientCheckpointing = true
        }
        guard !model.trainableParameters().isEmpty else {
            throw TrainingError.invalidArgument(name: "model", reason: "nothing is trainable (attach an adapter or unfreeze layers)")
        }

        // Global batches: each member computes its share of every one.
        sampler = BatchSampler(batchSize: arguments.batchSize * communicator.size, shuffle: arguments.shuffle, groupByLength: arguments.groupByLength,
                               seed: arguments.seed)
        if arguments.packing {
            guard case .languageModeling = train.task else {
                throw TrainingError.invalidArgument(name: "packing", reason: "packs language-modeling examples, not classification ones")
            }
            guard model.prefix == nil else { throw TrainingError.invalidArgument(name: "packing", reason: "cannot be combined with prompt tuning") }
        }
        self.packedRowLength = arguments.packedRowLength ?? train.lengths.max() ?? 1
        (state.batchesPerEpoch, state.totalSteps) = Self.plannedSteps(train: train, arguments: arguments, members: communicator.size)
        let warmup = arguments.warmupSteps > 0 ? arguments.warmupSteps : Int((arguments.warmupRatio * Double(state.totalSteps)).rounded(.up))
        self.schedule = schedule ?? WarmupSchedule(peak: arguments.learningRate, shape: arguments.schedule, warmupSteps: warmup, totalSteps: state.totalSteps)
        if let optimizer {
            self.optimizer = optimizer
        } else {
            switch arguments.optimizer {
            case .adamW:
                self.optimizer = AdamW(learningRate: arguments.learningRate, beta1: arguments.adamBeta1, beta2: arguments.adamBeta2,
                                       epsilon: arguments.adamEpsilon, weightDecay: arguments.weightDecay)
            case .sgd:
                self.optimizer = SGD(learningRate: arguments.learningRate, momentum: arguments.sgdMomentum, weightDecay: arguments.weightDecay)
            }
        }
    }

    /// Refuses data the model cannot learn from.
    static func check(_ dataset: TrainingDataset, fits head: ModelHead) throws {
        switch (head, dataset.task) {
        case let (.languageModel(model), .languageModeling):
            if let long = dataset.examples.first(where: { $0.ids.count > model.contextLength }) {
                throw DatasetError.malformed(path: dataset.source, line: long.line, reason: "the example has \(long.ids.count) tokens but the model's context holds \(model.contextLength); lower the maximum length")
            }
            if let bad = dataset.examples.first(where: { $0.ids.contains { $0 < 0 || $0 >= model.vocabularySize } }) {
                throw DatasetError.malformed(path: dataset.source, line: bad.line, reason: "a token id is outside the model's vocabulary of \(model.vocabularySize) (was the data tokenized for another model?)")
            }
        case let (.classifier(model), .classification(labels)):
            guard labels.count <= model.labelCount else {
                throw TrainingError.taskMismatch("\(dataset.source) has \(labels.count) labels but the model's head scores \(model.labelCount); replace the head (replaceHead) to fit")
            }
        case (.languageModel, .classification):
            throw TrainingError.taskMismatch("\(dataset.source) is a classification set (text + label) but the model is a causal language model")
        case (.classifier, .languageModeling):
            throw TrainingError.taskMismatch("\(dataset.source) is a generation set but the model is a sequence classifier")
        }
    }

    // MARK: The loop

    /// Trains until the step budget is spent, a callback stops it, or Ctrl-C is pressed (then a
    /// checkpoint is saved). Writes the final adapter to the output folder.
    ///
    /// - Parameter checkpoint: resume from this checkpoint folder (`checkpoint-N`), or from the newest
    ///   valid checkpoint inside this output folder.
    /// - Throws: `TrainingError` (non-finite values, unusable checkpoint, existing output, a
    ///   predicted peak beyond the machine's memory) and the model's errors. On a non-finite loss
    ///   nothing non-finite is written.
    @discardableResult
    public func train(resumingFrom checkpoint: URL? = nil) throws -> TrainingSummary {
        do {
            return try run(resumingFrom: checkpoint)
        } catch let error as CommunicatorError {
            throw error  // another member ended the group: nothing more to tell it
        } catch {
            // The other members are (or will be) waiting in a collective: end the group, naming this member.
            if communicator.size > 1 { communicator.abort("training failed: \(error)") }
            throw error
        }
    }

    /// `train(resumingFrom:)`'s body.
    func run(resumingFrom checkpoint: URL?) throws -> TrainingSummary {
        if checksMemory {
            let attached = model.trainableParameters().reduce(0) { $0 + $1.parameter.value.count }
            try TrainingMemory.predicted(for: model.module, dataset: trainDataset, arguments: arguments, prefixTokens: model.prefix?.shape.first ?? 0,
                                         attachedTrainable: attached).requireFits()
        }
        if let checkpoint {
            try resume(from: checkpoint)
        } else if let output = outputURL, communicator.rank == 0 {
            try prepareOutput(output)
        }
        if arguments.handlesInterrupt { pk_interrupt_install() }
        defer { if arguments.handlesInterrupt { pk_interrupt_uninstall() } }
        clock = RunClock(stepAtStart: state.step, examplesAtStart: state.trainedExamples)
        state.stopRequested = false
        var interrupted = false
        var lastEvaluatedStep = -1
        callbacks.forEach { $0.onTrainBegin(self) }
        var batches = epochPlan(state.epoch)
        state.batchesPerEpoch = batches.count  // this epoch's (packing and a resumed epoch may differ from epoch 0's)
        if state.batchCursor == 0 && state.step < state.totalSteps { callbacks.forEach { $0.onEpochBegin(self) } }

        while state.step < state.totalSteps && !state.stopRequested {
            if state.batchCursor >= batches.count {
                state.epoch += 1
                state.batchCursor = 0
                batches = epochPlan(state.epoch)
                state.batchesPerEpoch = batches.count
                callbacks.forEach { $0.onEpochBegin(self) }
            }
            callbacks.forEach { $0.onStepBegin(self) }
            let end = min(state.batchCursor + arguments.gradientAccumulationSteps, batches.count)
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let micro = batches[state.batchCursor..<end].map(share).filter { !$0.isEmpty }.map(makeBatch)
            let loss: Double?
            if let profile = operationProfile, state.step > clock.stepAtStart || state.totalSteps == clock.stepAtStart + 1 {
                loss = try profile.measure { try step(micro) }
            } else {
                loss = try step(micro)
            }
            clock.stepSeconds += Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
            state.batchCursor = end
            clock.tokens += micro.reduce(0) { $0 + $1.tokenCount }
            if let loss {
                state.lossSinceLog += loss
                state.stepsSinceLog += 1
            }
            // The flow (when to log, evaluate, save) and every callback decide together.
            var control = ([flow] + callbacks).map { $0.onStepEnd(self) }.merged
            if control.shouldLog { control = control.merged(with: logTrainingLoss().merged) }
            if control.shouldEvaluate && evaluates {
                control = control.merged(with: try evaluateAndTrack(exactMatch: arguments.exactMatchDuringTraining).merged)
                lastEvaluatedStep = state.step
            }
            if let failure = control.failure { throw TrainingError.callbackFailed(failure) }
            // Stop together: a member interrupted (Ctrl-C, or SIGUSR1 forwarded by mpirun) or told
            // to stop by a callback stops every member after the same step.
            let interruptedHere = arguments.handlesInterrupt && pk_interrupt_requested() != 0
            let stopping = try communicator.allReduceMax(interruptedHere ? 2 : control.shouldStop || state.stopRequested ? 1 : 0)
            if stopping >= 2 { interrupted = true }
            if stopping >= 1 { state.stopRequested = true }
            // A run that stops early (Ctrl-C or a callback) leaves a checkpoint it can resume from.
            if outputURL != nil, communicator.rank == 0, control.shouldSave || (state.stopRequested && state.step < state.totalSteps) {
                try saveCheckpoint()
            }
        }
        if evaluates && lastEvaluatedStep != state.step && !interrupted {
            let control = try evaluateAndTrack(exactMatch: arguments.exactMatchDuringTraining).merged
            if let failure = control.failure { throw TrainingError.callbackFailed(failure) }
        }
        if arguments.loadBestModelAtEnd, let best = bestWeights { restoreTrainable(best) }
        callbacks.forEach { $0.onTrainEnd(self) }
        if let output = outputURL, communicator.rank == 0 {
            try model.saveTrained(to: output)
            try writeLabelMap(to: output)
        }
        return summary(interrupted: interrupted)
    }

    /// The batches of `epoch`: rows of example indices (one example per row unless packing).
    func epochPlan(_ epoch: Int) -> [[[Int]]] {
        Self.plan(sampler, lengths: trainDataset.lengths, epoch: epoch, packing: arguments.packing, rowLength: packedRowLength)
    }

    /// One epoch's batches as rows of example indices (one example per row unless packing).
    static func plan(_ sampler: BatchSampler, lengths: [Int], epoch: Int, packing: Bool, rowLength: Int) -> [[[Int]]] {
        if packing { return sampler.packedBatches(lengths: lengths, epoch: epoch, rowLength: rowLength) }
        return sampler.batches(lengths: lengths, epoch: epoch).map { $0.map { [$0] } }
    }

    /// The batches per epoch and the optimizer steps a run of `arguments` on `train` takes — what a
    /// `Trainer` plans, known before the model exists (AdaLoRA's schedule spans the run).
    /// - Parameter members: data-parallel members (each batch is `batchSize × members` rows).
    public static func plannedSteps(train: TrainingDataset, arguments: TrainingArguments, members: Int = 1) -> (batchesPerEpoch: Int, totalSteps: Int) {
        let sampler = BatchSampler(batchSize: arguments.batchSize * max(1, members), shuffle: arguments.shuffle, groupByLength: arguments.groupByLength, seed: arguments.seed)
        let rowLength = arguments.packedRowLength ?? train.lengths.max() ?? 1
        let batches = plan(sampler, lengths: train.lengths, epoch: 0, packing: arguments.packing, rowLength: rowLength).count
        let stepsPerEpoch = (batches + arguments.gradientAccumulationSteps - 1) / arguments.gradientAccumulationSteps
        return (batches, arguments.maxSteps ?? max(1, Int((arguments.epochs * Double(stepsPerEpoch)).rounded(.up))))
    }

    /// This member's rows of a global batch: rows rank, rank + size, ….
    func share(_ rows: [[Int]]) -> [[Int]] {
        guard communicator.size > 1 else { return rows }
        return rows.enumerated().filter { $0.offset % communicator.size == communicator.rank }.map(\.element)
    }

    /// The padded (or packed) batch of planned rows.
    func makeBatch(_ rows: [[Int]]) -> Batch {
        if arguments.packing { return Batch(packing: rows.map { $0.map { trainDataset.examples[$0] } }) }
        return Batch(rows.map { trainDataset.examples[$0[0]] })
    }

    /// One optimizer step over `micro`; returns the step's mean loss, or nil when the update was
    /// skipped for non-finite values (policy `.skip`).
    func step(_ micro: [Batch]) throws -> Double? {
        let parameters = model.trainableParameters()
        // Every member divides by the targets of the whole global step.
        let targets = Int(try communicator.allReduceSum(Double(micro.reduce(0) { $0 + $1.targetCount })))
        let stepNumber = state.step + 1
        model.module.train()
        var total = 0.0
        var nonFinite: String?
        try GEMM.$precision.withValue(arguments.matmulPrecision) {
            for batch in micro where batch.targetCount > 0 {
                let anchor = arguments.klAnchor.map { (weight: Float($0), model: model) }
                let loss = try Objective.lossSum(head: head, prefix: model.prefix, batch: batch, anchor: anchor) / Float(targets)
                let value = Double(loss.value.scalar)
                guard value.isFinite else {
                    nonFinite = "the training loss"
                    break
                }
                total += value
                loss.backward()
            }
        }
        if communicator.size > 1 {
            // The members agree on a non-finite loss anywhere, then sum the step's loss and gradients.
            // The time counted includes waiting for the slowest member at the first exchange.
            try OperationProfile.region("gradient all-reduce") {
                let start = DispatchTime.now().uptimeNanoseconds
                if try communicator.allReduceMax(nonFinite == nil ? 0 : 1) > 0 && nonFinite == nil { nonFinite = "the training loss on another member" }
                total = try communicator.allReduceSum(total)
                if nonFinite == nil { try gradientAllReduce.sum(parameters.map(\.parameter), over: communicator) }
                clock.communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
        }
        let hooks = model.trainingHooks
        if nonFinite == nil, let penalty = hooks?.regularization() {
            // The method's penalty (AdaLoRA's orthogonality), once per step, before clipping.
            let value = Double(penalty.value.scalar)
            if value.isFinite {
                total += value
                penalty.backward()
            } else {
                nonFinite = "the adapter method's regularisation"
            }
        }
        if nonFinite == nil {
            let norm = OperationProfile.region("gradient norm and clipping") {
                arguments.maxGradientNorm.map { clipGradientNorm(parameters, maxNorm: $0) } ?? gradientNorm(parameters)
            }
            if !norm.isFinite { nonFinite = "the gradient of '\(firstNonFiniteGradient(parameters) ?? "?")'" }
            lastGradientNorm = norm
        }
        if let nonFinite {
            parameters.forEach { $0.parameter.zeroGrad() }
            switch arguments.nonFinite {
            case .stop: throw TrainingError.nonFinite(step: stepNumber, what: nonFinite)
            case .skip:
                state.skippedSteps.append(stepNumber)
                state.step += 1
                return nil
            }
        }
        lastLearningRate = schedule.rate(at: state.step)
        optimizer.learningRate = lastLearningRate
        try OperationProfile.region("optimizer update") {
            optimizer.step(parameters)
            // The method's after-step work (AdaLoRA's rank allocation) sees the step's gradients.
            try hooks?.afterOptimizerStep(state.step)
            parameters.forEach { $0.parameter.zeroGrad() }
        }
        if let bad = parameters.first(where: { !$0.parameter.value.isFinite }) {
            throw TrainingError.nonFinite(step: stepNumber, what: "parameter '\(bad.path)' after the update")
        }
        state.step += 1
        state.stepLosses.append(total)
        let examples = micro.reduce(0) { $0 + ($1.segments.map { Set($0.filter { $0 >= 0 }).count } ?? $1.rows) }
        state.trainedTokens += Int(try communicator.allReduceSum(Double(micro.reduce(0) { $0 + $1.tokenCount })))
        state.trainedExamples += Int(try communicator.allReduceSum(Double(examples)))
        return total
    }

    /// Logs the mean loss since the last log.
    func logTrainingLoss() -> [TrainerControl] {
        guard state.stepsSinceLog > 0 else { return [] }
        var values: [String: Double] = ["loss": state.lossSinceLog / Double(state.stepsSinceLog), "learning_rate": Double(lastLearningRate)]
        if let norm = lastGradientNorm, norm.isFinite { values["grad_norm"] = norm }
        let seconds = clock.stepSeconds - clock.atLastLog.seconds
        if seconds > 0 { values["tokens_per_second"] = Double(clock.tokens - clock.atLastLog.tokens) / seconds }
        clock.atLastLog = (clock.tokens, clock.stepSeconds)
        state.lossSinceLog = 0
        state.stepsSinceLog = 0
        return log(values)
    }

    /// Appends a row to the history and tells the callbacks.
    func log(_ values: [String: Double]) -> [TrainerControl] {
        let entry = LogEntry(step: state.step, epoch: state.fractionalEpoch, values: values.filter { $0.value.isFinite })
        state.logHistory.append(entry)
        return callbacks.map { $0.onLog(self, entry: entry) }
    }

    /// Evaluates, logs, tracks the best metric (and its weights), and asks the callbacks.
    func evaluateAndTrack(exactMatch: Bool) throws -> [TrainerControl] {
        guard evaluates else { return [] }
        var metrics = try evalDataset.map { try evaluate($0, exactMatch: exactMatch) } ?? [:]
        metrics.merge(try forgettingMetrics()) { _, new in new }
        lastEvaluation = (state.step, metrics)
        var control = log(metrics)
        recordBest(metrics)
        control += callbacks.map { $0.onEvaluate(self, metrics: metrics) }
        return control
    }

    /// Tracks the best value of `bestModelMetric` and, when `keepsBestWeights` (or
    /// `loadBestModelAtEnd`), the weights it was reached with: the one place best weights are kept.
    func recordBest(_ metrics: [String: Double]) {
        guard let value = metrics[bestModelMetric], value.isFinite else { return }
        let larger = arguments.greaterIsBetter ?? TrainingArguments.largerIsBetter(bestModelMetric)
        let better = state.bestMetric.map { larger ? value > $0 : value < $0 } ?? true
        guard better else { return }
        state.bestMetric = value
        state.bestStep = state.step
        if keepsBestWeights || arguments.loadBestModelAtEnd { bestWeights = snapshotTrainable() }
    }

    /// Asks the run to stop after the current step (as a callback's `.stop` does).
    public func requestStop() { state.stopRequested = true }

    // MARK: Weights

    /// Copies of the trainable tensors by path.
    public func snapshotTrainable() -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: model.trainableParameters().map { ($0.path, $0.parameter.value) })
    }

    /// Puts back tensors from `snapshotTrainable()`.
    public func restoreTrainable(_ snapshot: [String: Tensor]) {
        for (path, parameter) in model.trainableParameters() {
            if let value = snapshot[path], value.shape == parameter.shape { parameter.value = value }
        }
    }

    var outputURL: URL? { arguments.outputDirectory.map { URL(fileURLWithPath: $0) } }

    /// The end-of-run numbers, in Hugging Face Trainer's vocabulary.
    func summary(interrupted: Bool) -> TrainingSummary {
        let seconds = clock.elapsed
        let losses = state.stepLosses
        return TrainingSummary(
            steps: state.step, epochs: state.fractionalEpoch, trainRuntime: seconds,
            trainSamplesPerSecond: seconds > 0 ? Double(state.trainedExamples - clock.examplesAtStart) / seconds : 0,
            trainStepsPerSecond: seconds > 0 ? Double(state.step - clock.stepAtStart) / seconds : 0,
            stepRuntime: clock.stepSeconds,
            stepSamplesPerSecond: clock.stepSeconds > 0 ? Double(state.trainedExamples - clock.examplesAtStart) / clock.stepSeconds : 0,
            trainLoss: losses.isEmpty ? .nan : losses.reduce(0, +) / Double(losses.count),
            trainableParameters: model.trainableParameters().reduce(0) { $0 + $1.parameter.value.count },
            bestMetric: state.bestMetric, bestStep: state.bestStep, skippedSteps: state.skippedSteps.count, interrupted: interrupted,
            communicationRuntime: clock.communicationSeconds)
    }
}

/// Wall time and throughput since a run (or its resumption) began.
struct RunClock {
    let start = Date()
    var stepAtStart = 0
    var examplesAtStart = 0
    var tokens = 0
    /// Seconds inside optimizer steps (no evaluation, checkpoints or saving).
    var stepSeconds = 0.0
    /// Seconds summing gradients over data-parallel members (within `stepSeconds`).
    var communicationSeconds = 0.0
    /// `tokens` and `stepSeconds` at the last logged training row (for its tokens per second).
    var atLastLog = (tokens: 0, seconds: 0.0)
    var elapsed: Double { Date().timeIntervalSince(start) }
}
