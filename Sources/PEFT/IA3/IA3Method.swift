import Autograd
import Models
import NN
import Tensors

extension PeftType {
    /// IA³: learned scales of activations.
    public static let ia3 = PeftType(rawValue: "IA3")
}

extension AdapterMethod {
    /// IA³, with `--method ia3`.
    public static let ia3 = AdapterMethod(peftType: .ia3, readConfiguration: { try IA3Config(json: $0) }, commandLine: [
        CommandLineVariant(name: "ia3", summary: "IA³: learned vectors scaling the targets' outputs (feed-forward inputs)", options: []) { values in
            // Feed-forward modules: the family's, as PEFT fills them.
            IA3Config(targetModules: values.targets, modulesToSave: values.modulesToSave, taskType: values.taskType,
                      baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension IA3Config: LayerAdapterConfiguration {
    /// IA³'s entry (`k_proj`, `v_proj`, `down_proj` for Llama).
    public static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { \.ia3 }

    /// Whether `path` is scaled on its input (a feed-forward module) rather than its output. An unset
    /// `feedforward_modules` takes the family's defaults whatever the targets, as PEFT fills it.
    func isFeedforward(_ path: String, model: Module) throws -> Bool {
        let feedforward = feedforwardModules ?? Injection.defaultTargets(for: model).map { .names($0.ia3Feedforward) }
        return try feedforward?.matcher(allLinearNames: [], field: "feedforward_modules")(path) ?? false
    }

    /// Wraps a linear layer in an `IA3Layer`.
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: "IA3") }
        let isFeedforward = try isFeedforward(path, model: model)
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "IA3") { IA3Layer(wrapping: layer, isFeedforward: isFeedforward) }
        wrapper.addAdapter(name, identity: initializeToIdentity, generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    /// One vector: the input's size for feed-forward modules, the output's otherwise.
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        guard let layer = module as? any LinearLayer else { return 0 }
        return try isFeedforward(path, model: model) ? layer.inFeatures : layer.outFeatures
    }

    /// As PEFT saves it: `feedforward_modules` written as the defaults it took, and `fan_in_fan_out`
    /// set when a target stores its weight `[in, out]`.
    public func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration {
        var stored = self
        if Injection.storesInputsByOutputs(targets) { stored.fanInFanOut = true }
        if stored.feedforwardModules == nil { stored.feedforwardModules = Injection.defaultTargets(for: model).map { .names($0.ia3Feedforward) } }
        return stored
    }
}
