import Autograd
import Foundation
import Models
import NN
import Tensors

/// A model with adapters attached: injection, several named adapters, enabling/disabling, merging,
/// and the trainable set (Hugging Face PEFT's `PeftModel`).
///
/// The base model is adapted in place: its matching linear layers are wrapped (`q_proj` becomes a
/// `LoRALayer` whose `base_layer` is the original), its own weights are frozen, and `model` is run
/// exactly as before.
///
/// ```swift
/// let peft = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, targetModules: ["q_proj", "v_proj"]))
/// print(peft.trainableParameterSummary)   // trainable 460,800 / 134,975,808 (0.34%)
/// ```
public final class PeftModel<Base> {
    /// The adapted model (run it as usual).
    public let model: Base
    /// The model as a module tree.
    public let root: Module
    /// Attached adapters in the order they were added.
    public internal(set) var configurations: [(name: String, configuration: any AdapterConfiguration)] = []
    /// The adapter used in forward and trained.
    public private(set) var activeAdapter: String
    /// Learned virtual-token embeddings of prompt-tuning adapters, by adapter name.
    public internal(set) var promptEncoders: [String: PromptEmbedding] = [:]
    /// Seeds the generator that initialises new adapter weights.
    public var seed: UInt64
    /// What attaching the adapters accepted but a person probably did not mean, one sentence each:
    /// a `modules_to_save` name that matches nothing, a rank above a target's smaller side. Tools
    /// show them as warnings.
    public internal(set) var notices: [String] = []
    /// Training hooks by adapter name, made when first asked for.
    private var hooks: [String: any AdapterTrainingHooks] = [:]

    /// Attaches a first adapter named `adapterName` (default `"default"`) and freezes everything else.
    /// - Parameter promptInitialTokens: the token ids of `prompt_tuning_init_text` (prompt tuning
    ///   with TEXT initialisation).
    /// - Throws: `PEFTError` for an invalid configuration or targets that match nothing; the model is
    ///   unchanged when it throws.
    public convenience init(_ model: Base, configuration: any AdapterConfiguration, adapterName: String = "default", seed: UInt64 = 0,
                            promptInitialTokens: [Int]? = nil) throws {
        try self.init(model, configuration: configuration, adapterName: adapterName, seed: seed, start: .configured(promptInitialTokens))
    }

    /// How a new adapter's prompt embeddings start.
    enum PromptStart {
        /// As the configuration says (TEXT needs the token ids).
        case configured([Int]?)
        /// Anything: weights are loaded right after.
        case loading

        var isLoading: Bool { if case .loading = self { true } else { false } }
    }

    init(_ model: Base, configuration: any AdapterConfiguration, adapterName: String, seed: UInt64, start: PromptStart) throws {
        guard let root = model as? Module else { throw PEFTError.invalidState("PeftModel: \(type(of: model)) is not a Module") }
        self.model = model
        self.root = root
        self.activeAdapter = adapterName
        self.seed = seed
        try addAdapter(adapterName, configuration: configuration, start: start)  // active already: refreshes the trainable set
    }

    /// The configuration of `name`.
    public func configuration(_ name: String) -> (any AdapterConfiguration)? {
        configurations.first { $0.name == name }?.configuration
    }

    /// Names of the attached adapters.
    public var adapterNames: [String] { configurations.map(\.name) }

    // MARK: Adding and removing

    /// Attaches another adapter (not activated; see `setActiveAdapter`).
    /// - Throws: `PEFTError.adapterExists`, `.invalidConfiguration`, `.noTargetModules`; nothing changes on error.
    public func addAdapter(_ name: String, configuration: any AdapterConfiguration, promptInitialTokens: [Int]? = nil) throws {
        try addAdapter(name, configuration: configuration, start: .configured(promptInitialTokens))
    }

    func addAdapter(_ name: String, configuration: any AdapterConfiguration, start: PromptStart) throws {
        guard !name.isEmpty, !name.contains(".") else { throw PEFTError.invalidConfiguration(field: "adapter name", reason: "'\(name)' must be non-empty without '.'") }
        guard self.configuration(name) == nil else { throw PEFTError.adapterExists(name) }
        try configuration.validate()
        var generator = SeededRandom(seed: seed &+ UInt64(configurations.count))
        var stored = configuration
        if let prompt = configuration as? any PromptLearningConfiguration {
            var tokens: [Int]? = nil
            if case let .configured(given) = start { tokens = given }
            promptEncoders[name] = try prompt.makeEmbedding(for: root, initialTokens: tokens, loading: start.isLoading, generator: &generator)
        } else {
            let plan = try Injection.plan(configuration, model: root)
            do {
                stored = try Injection.apply(plan, configuration: configuration, adapterName: name, model: root, generator: &generator)
            } catch {
                Injection.remove(name, from: root)
                throw error
            }
            notices += plan.notices.map { configurations.isEmpty ? $0 : "adapter '\(name)': \($0)" }
        }
        configurations.append((name, stored))
        applyActiveAdapter()
        if name == activeAdapter { refreshTrainable() }
        attachActivePrefix()
    }

    /// Puts the active prompt-tuning adapter's virtual tokens on the model (or takes them off), so
    /// that the model's own entry points answer as adapted.
    func attachActivePrefix(disabled: Bool = false) {
        guard let model = root as? any CausalLanguageModel else { return }
        model.attachedPrefix = disabled ? nil : promptEncoders[activeAdapter]?.weight
    }

    /// Makes `name` the adapter used in forward and trained.
    public func setActiveAdapter(_ name: String) throws {
        guard configuration(name) != nil else { throw PEFTError.noSuchAdapter(name) }
        guard mergedAdapters.isEmpty else { throw PEFTError.invalidState("unmerge adapters before switching the active one") }
        activeAdapter = name
        applyActiveAdapter()
        refreshTrainable()
        attachActivePrefix()
    }

    /// Makes every layer run the active adapter (layers that do not hold it run none), as PEFT's
    /// `set_adapter`: also after adding an adapter, whose new layers would otherwise run it.
    func applyActiveAdapter() {
        for (_, module) in root.namedModules() {
            if let layer = module as? any AdapterWrapper { layer.activeAdapters = [activeAdapter] }
            if let layer = module as? ModulesToSaveLayer { layer.activeAdapter = layer.adapterNames.contains(activeAdapter) ? activeAdapter : nil }
        }
    }

    /// Removes an adapter (not the active one); layers left with no adapter are unwrapped.
    public func deleteAdapter(_ name: String) throws {
        guard configuration(name) != nil else { throw PEFTError.noSuchAdapter(name) }
        guard name != activeAdapter else { throw PEFTError.invalidState("cannot delete the active adapter '\(name)'; activate another first") }
        guard mergedAdapters.isEmpty else { throw PEFTError.invalidState("unmerge adapters before deleting one") }
        Injection.remove(name, from: root)
        promptEncoders.removeValue(forKey: name)
        hooks.removeValue(forKey: name)
        configurations.removeAll { $0.name == name }
    }

    // MARK: Forward modes

    /// Runs `body` with every adapter switched off (the base model's outputs exactly).
    /// - Throws: `PEFTError.invalidState` while adapters are merged.
    public func withAdaptersDisabled<R>(_ body: () throws -> R) throws -> R {
        guard mergedAdapters.isEmpty else { throw PEFTError.invalidState("adapters are merged; unmerge before disabling them") }
        setDisabled(true)
        attachActivePrefix(disabled: true)
        defer {
            setDisabled(false)
            attachActivePrefix()
        }
        return try body()
    }

    private func setDisabled(_ disabled: Bool) {
        for (_, module) in root.namedModules() {
            if let layer = module as? any AdapterWrapper { layer.adaptersDisabled = disabled }
            if let layer = module as? ModulesToSaveLayer { layer.adaptersDisabled = disabled }
        }
    }

    /// Runs `body` with sequence `i` of every batch using adapter `sequenceAdapters[i]` (nil: the
    /// base model) in every layer, whatever the active adapter (`AdapterRouting`; inference only).
    /// The model's attached prompt-tuning prefix is detached meanwhile: give each sequence its own
    /// (`promptEmbeddings(of:)`) to the forward pass.
    /// - Throws: `PEFTError.noSuchAdapter` for a name this model does not hold, `PEFTError.invalidState`
    ///   while adapters are merged (the base weights would carry them for every sequence).
    public func withRouting<R>(_ sequenceAdapters: [String?], _ body: () throws -> R) throws -> R {
        for case let name? in sequenceAdapters where configuration(name) == nil { throw PEFTError.noSuchAdapter(name) }
        guard mergedAdapters.isEmpty else { throw PEFTError.invalidState("adapters are merged; unmerge before routing sequences to adapters") }
        attachActivePrefix(disabled: true)
        defer { attachActivePrefix() }
        return try AdapterRouting.$sequenceAdapters.withValue(sequenceAdapters) { try body() }
    }

    /// The virtual-token embeddings `[tokens, hidden]` of adapter `name` when it is prompt tuning (nil otherwise).
    public func promptEmbeddings(of name: String) -> Variable? { promptEncoders[name]?.weight }

    /// The virtual-token embeddings `[tokens, hidden]` of the active adapter when it is prompt tuning.
    public var activePromptEmbeddings: Variable? { promptEncoders[activeAdapter]?.weight }

    // MARK: Merging

    /// Adapters currently merged into base weights.
    public var mergedAdapters: [String] {
        var names: [String] = []
        for layer in Injection.adapterLayers(in: root) { names += layer.mergedAdapters.filter { !names.contains($0) } }
        return names
    }

    /// Folds `adapters` (default: the active one) into the base weights; forward then costs what the
    /// base model costs. Unmerge restores the base weights exactly.
    public func merge(adapters: [String]? = nil) throws {
        let names = adapters ?? [activeAdapter]
        for name in names where configuration(name) == nil { throw PEFTError.noSuchAdapter(name) }
        for name in names where configuration(name) is any PromptLearningConfiguration {
            throw PEFTError.invalidState("adapter '\(name)' is prompt tuning: its virtual tokens run before the input and have no weights to merge; save the adapter instead")
        }
        for layer in Injection.adapterLayers(in: root) { try layer.merge(names) }
    }

    /// Restores every base weight to its value before `merge`.
    public func unmerge() throws {
        for layer in Injection.adapterLayers(in: root) { try layer.unmerge() }
    }

    /// Merges the active adapter and returns the plain model (adapter layers replaced by their base
    /// layers, `modules_to_save` by the trained copies). This `PeftModel` must not be used afterwards.
    public func mergeAndUnload() throws -> Base {
        if mergedAdapters.isEmpty { try merge() }
        try Injection.unwrapAll(root, activeAdapter: activeAdapter)
        return model
    }

    /// Removes every adapter without merging and returns the plain model.
    public func unload() throws -> Base {
        try unmerge()
        try Injection.unwrapAll(root, activeAdapter: activeAdapter)
        attachActivePrefix(disabled: true)
        return model
    }

    /// What the active adapter's method does while training beyond forward and backward (AdaLoRA's
    /// rank allocator), or nil. The `Trainer` calls it.
    public var trainingHooks: (any AdapterTrainingHooks)? {
        let name = activeAdapter
        if let made = hooks[name] { return made }
        guard let layered = configuration(name) as? any LayerAdapterConfiguration else { return nil }
        let made = layered.trainingHooks(name, model: root) { [weak self] updated in
            guard let self, let index = self.configurations.firstIndex(where: { $0.name == name }) else { return }
            self.configurations[index].configuration = updated
        }
        hooks[name] = made
        return made
    }

    // MARK: Trainable set

    /// Freezes everything, then unfreezes the active adapter's tensors, its `modules_to_save` copies
    /// and the biases its configuration trains. An `inference_mode` adapter leaves everything frozen.
    public func refreshTrainable() {
        root.freeze()
        for encoder in promptEncoders.values { encoder.weight.requiresGrad = false }
        guard let configuration = configuration(activeAdapter), !configuration.inferenceMode else { return }
        for parameter in Injection.trainableTensors(activeAdapter, configuration: configuration, model: root).map(\.parameter) {
            parameter.requiresGrad = true
        }
        promptEncoders[activeAdapter]?.weight.requiresGrad = true
    }

    /// Every parameter that trains, with its path (prompt embeddings as `prompt_embeddings`).
    public func trainableParameters() -> [(path: String, parameter: Variable)] {
        var result = root.trainableParameters()
        if let prompt = promptEncoders[activeAdapter], prompt.weight.requiresGrad { result.append(("prompt_embeddings", prompt.weight)) }
        return result
    }

    /// Number of trainable scalars.
    public var trainableParameterCount: Int { trainableParameters().reduce(0) { $0 + $1.parameter.value.count } }

    /// All scalars: the base model's (adapter tensors of other adapters excluded, like PEFT counts
    /// them for a single adapter) plus prompt embeddings.
    public var parameterCount: Int {
        root.parameterCount + (promptEncoders[activeAdapter]?.weight.value.count ?? 0)
    }

    /// "trainable 460,800 / 134,975,808 (0.34%)", as PEFT's `print_trainable_parameters`.
    public var trainableParameterSummary: String {
        let trainable = trainableParameterCount, total = parameterCount
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.locale = Locale(identifier: "en_US")
        func text(_ n: Int) -> String { formatter.string(from: NSNumber(value: n)) ?? "\(n)" }
        let percent = total == 0 ? 0 : 100 * Double(trainable) / Double(total)
        return "trainable \(text(trainable)) / \(text(total)) (\(String(format: "%.2f", percent))%)"
    }
}
