import Autograd
import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tensors

/// What a model computes at its output, which decides the loss and the metrics.
public enum ModelHead {
    /// Next-token logits: cross-entropy on labelled positions; perplexity and exact match.
    case languageModel(any CausalLanguageModel)
    /// Class logits: cross-entropy on the class; accuracy, precision, recall, F1.
    case classifier(any SequenceClassificationModel)
}

/// A model the `Trainer` can train: a `PeftModel` (adapters), or a plain module with some layers
/// unfrozen (`TrainableModule`).
public protocol TrainableModel: AnyObject {
    /// The whole module tree (train/eval mode, dropout generators).
    var module: Module { get }
    /// The output the loss is taken on.
    func head() throws -> ModelHead
    /// Every tensor that trains, by path.
    func trainableParameters() -> [(path: String, parameter: Variable)]
    /// Virtual-token embeddings run before every sequence (prompt tuning), if any.
    var prefix: Variable? { get }
    /// Writes what was trained in its usable form (a PEFT adapter folder, or a safetensors file).
    func saveTrained(to folder: URL) throws
    /// The settings that change the function being trained (an adapter's rank, scaling, variant,
    /// dropout, targets …), by name: a checkpoint resumes only under the same ones.
    var functionSettings: [String: String] { get }
    /// Runs `body` on the model as it was before training — the same weights in memory, no second
    /// copy: adapters switched off (and no prompt-tuning prefix), or a plain module's trainable
    /// tensors put back to their starting values. What the forgetting monitor compares against.
    /// - Throws: when the base cannot be reached (merged adapters).
    func withBaseModel<R>(_ body: () throws -> R) throws -> R
    /// What the adapter's method does while training beyond forward and backward (AdaLoRA's rank
    /// allocator), or nil.
    var trainingHooks: (any AdapterTrainingHooks)? { get }
}

extension TrainableModel {
    /// None beyond the trainable tensors themselves.
    public var functionSettings: [String: String] { [:] }
    /// None.
    public var trainingHooks: (any AdapterTrainingHooks)? { nil }
}

extension PeftModel: TrainableModel {
    /// The adapted model's module tree.
    public var module: Module { root }

    /// A language model or a classifier, from the base model's type.
    public func head() throws -> ModelHead {
        if let model = root as? any CausalLanguageModel { return .languageModel(model) }
        if let model = root as? any SequenceClassificationModel { return .classifier(model) }
        throw TrainingError.taskMismatch("\(type(of: root)) is neither a causal language model nor a sequence classifier")
    }

    /// The active prompt-tuning adapter's virtual tokens, if any.
    public var prefix: Variable? { activePromptEmbeddings }

    /// Every field of the active adapter's configuration (`adapter lora_alpha`, `adapter use_rslora` …)
    /// except those that do not change the function (inference mode, names and versions).
    public var functionSettings: [String: String] {
        guard let configuration = configuration(activeAdapter), let members = configuration.json.members else { return [:] }
        let descriptive = Set(["inference_mode", "base_model_name_or_path", "revision", "peft_version", "auto_mapping", "task_type"])
            .union(type(of: configuration).learnedKeys)
        var settings: [String: String] = [:]
        for (key, value) in members where !descriptive.contains(key) { settings["adapter \(key)"] = value.serialized() }
        return settings
    }

    /// The active adapter in PEFT's layout (`adapter_config.json`, `adapter_model.safetensors`).
    public func saveTrained(to folder: URL) throws { try saveAdapter(to: folder, adapterName: activeAdapter) }

    /// `body` with every adapter switched off (`withAdaptersDisabled`); callers leave the prefix out.
    public func withBaseModel<R>(_ body: () throws -> R) throws -> R { try withAdaptersDisabled(body) }
}

/// A plain model whose unfrozen parameters train (full fine-tuning of chosen layers, or a new head).
/// Saving writes those tensors, under their Hugging Face names, to `model.safetensors`.
public final class TrainableModule: TrainableModel {
    /// The model.
    public let module: Module

    /// The trainable tensors' values when this wrapper was made: the base the forgetting monitor
    /// compares against (copies are made only as training changes them).
    private let startingValues: [(parameter: Variable, value: Tensor)]

    /// Trains `module`'s unfrozen parameters (their current values are the base).
    public init(_ module: Module) {
        self.module = module
        startingValues = module.trainableParameters().map { ($0.parameter, $0.parameter.value) }
    }

    /// `body` with the trainable tensors' starting values put back, then the trained ones again.
    public func withBaseModel<R>(_ body: () throws -> R) throws -> R {
        let trained = startingValues.map { $0.parameter.value }
        for (parameter, value) in startingValues { parameter.value = value }
        defer { for (entry, value) in zip(startingValues, trained) { entry.parameter.value = value } }
        return try body()
    }

    /// A language model or a classifier, from the module's type.
    public func head() throws -> ModelHead {
        if let model = module as? any CausalLanguageModel { return .languageModel(model) }
        if let model = module as? any SequenceClassificationModel { return .classifier(model) }
        throw TrainingError.taskMismatch("\(type(of: module)) is neither a causal language model nor a sequence classifier")
    }

    /// The module's unfrozen parameters.
    public func trainableParameters() -> [(path: String, parameter: Variable)] { module.trainableParameters() }

    /// None.
    public var prefix: Variable? { nil }

    /// Writes the trained tensors to `folder/model.safetensors` (atomically; refuses non-finite values).
    public func saveTrained(to folder: URL) throws {
        let tensors = trainableParameters()
        if let bad = tensors.first(where: { !$0.parameter.value.isFinite }) {
            throw TrainingError.file(path: folder.path, reason: "'\(bad.path)' holds non-finite values; nothing was written")
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let entries = tensors.map { $0.parameter.value.safetensorsEntry(named: Module.checkpointName(of: $0.path)) }
            try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: folder.appendingPathComponent("model.safetensors"))
        } catch let error as TrainingError {
            throw error
        } catch {
            throw TrainingError.file(path: folder.path, reason: "\(error)")
        }
    }
}
