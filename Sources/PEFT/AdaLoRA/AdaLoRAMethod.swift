import Autograd
import Models
import NN
import Tensors

extension PeftType {
    /// AdaLoRA: LoRA in SVD form whose ranks are allocated while training.
    public static let adaLoRA = PeftType(rawValue: "ADALORA")
}

extension AdapterMethod {
    /// `--target-rank R`: AdaLoRA's final average rank.
    static let targetRank = AdapterOption(name: "target-rank", placeholder: "R", help: "AdaLoRA's final average rank per target",
                                          kind: .integer(default: 8, range: 1...65_536))
    /// `--budget-warmup N`: steps before the budget shrinks.
    static let budgetWarmup = AdapterOption(name: "budget-warmup", placeholder: "N", help: "Steps before AdaLoRA's budget starts to shrink (tinit)",
                                            kind: .integer(default: 0, range: 0...(1 << 30)))
    /// `--budget-final N`: steps trained with the final ranks fixed.
    static let budgetFinal = AdapterOption(name: "budget-final", placeholder: "N", help: "Steps at the end with AdaLoRA's ranks fixed (tfinal)",
                                           kind: .integer(default: 0, range: 0...(1 << 30)))
    /// `--budget-interval N`: steps between reallocations.
    static let budgetInterval = AdapterOption(name: "budget-interval", placeholder: "N", help: "Steps between AdaLoRA's reallocations (deltaT)",
                                              kind: .integer(default: 1, range: 1...(1 << 30)))

    /// AdaLoRA, with `--method adalora` (`--rank` is the starting rank, `init_r`; `total_step` is
    /// the run's number of steps).
    public static let adaLoRA = AdapterMethod(peftType: .adaLoRA, readConfiguration: { try AdaLoRAConfig(json: $0) }, commandLine: [
        CommandLineVariant(name: "adalora", summary: "AdaLoRA: LoRA in SVD form; prunes from --rank to --target-rank while training",
                           options: [AdapterOption.rank.withDefault(12), targetRank, .alpha, AdapterMethod.loraDropout, budgetWarmup, budgetFinal,
                                     budgetInterval]) { values in
            AdaLoRAConfig(initialRank: values.integer(AdapterOption.rank.withDefault(12)), targetRank: values.integer(targetRank),
                          totalSteps: values.totalSteps, initialSteps: values.integer(budgetWarmup), finalSteps: values.integer(budgetFinal),
                          allocationInterval: values.integer(budgetInterval), alpha: values.number(.alpha), dropout: values.number(AdapterMethod.loraDropout),
                          targetModules: values.targets, modulesToSave: values.modulesToSave, taskType: values.taskType,
                          baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension AdaLoRAConfig {
    /// `rank_pattern`: what the allocator decided.
    public static var learnedKeys: Set<String> { ["rank_pattern"] }

    /// The low-rank entry (`q_proj`, `v_proj` for Llama), as PEFT's AdaLoRA table.
    public static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { \.lowRank }

    /// Wraps the layer in an `AdaLoRALayer` of the rank `rank_pattern` leaves it (else `init_r`).
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: "ADALORA") }
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "ADALORA") { AdaLoRALayer(wrapping: layer) }
        wrapper.addAdapter(name, rank: rank(for: path), startingRank: initialRank, alpha: alpha, dropout: dropout, identity: initializeToIdentity,
                           generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    /// A, E and B: r·(in + out + 1).
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        guard let layer = module as? any LinearLayer else { return 0 }
        return rank(for: path) * (layer.inFeatures + layer.outFeatures + 1)
    }

    /// `fan_in_fan_out` set when a target stores its weight `[in, out]` (GPT-2's `Conv1D`).
    public func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration {
        var stored = self
        if Injection.storesInputsByOutputs(targets) { stored.fanInFanOut = true }
        return stored
    }

    /// The biases `bias` trains: those of the wrapped layers (`lora_only`) or every one (`all`).
    public func extraTrainableTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] {
        bias.trained.tensors(name, model: model)
    }

    /// The rank allocator and orthogonality penalty.
    public func trainingHooks(_ name: String, model: Module, store: @escaping (any AdapterConfiguration) -> Void) -> (any AdapterTrainingHooks)? {
        AdaLoRAAllocator(configuration: self, adapter: name, model: model, store: store)
    }
}
