import Autograd
import Models
import NN
import Tensors

/// The targeting core every method shares: which modules a configuration selects, wrapping them,
/// and undoing it.
enum Injection {
    /// What a configuration selects in a model, computed before anything changes.
    struct Plan {
        /// Modules to adapt (linear layers, and embeddings for LoRA), by path.
        var targets: [(path: String, module: Module)]
        /// Linear layers to train in full (`modules_to_save`), by path.
        var modulesToSave: [(path: String, layer: any LinearLayer)]
        /// What is accepted but probably not meant (see `PeftModel.notices`).
        var notices: [String] = []
    }

    /// The modules of `model` that adapters may target: every module not inside an adapter or
    /// `modules_to_save` wrapper (the wrappers themselves count, under the wrapped path).
    static func adaptableModules(in model: Module) -> [(path: String, module: Module)] {
        var result: [(String, Module)] = []
        var wrappers: [String] = []
        for (path, module) in model.namedModules() where !path.isEmpty {
            if wrappers.contains(where: { path.hasPrefix($0 + ".") }) { continue }
            if module is any AdapterWrapper || module is ModulesToSaveLayer { wrappers.append(path) }
            result.append((path, module))
        }
        return result
    }

    /// The adaptable linear layers.
    static func linearModules(in model: Module) -> [(path: String, layer: any LinearLayer)] {
        adaptableModules(in: model).compactMap { entry in (entry.module as? any LinearLayer).map { (entry.path, $0) } }
    }

    /// The architecture's default targets when a configuration names none (PEFT's tables).
    static func defaultTargets(for model: Module, method: PeftType) -> (targets: TargetModules, feedforward: TargetModules?) {
        let family = (model as? DecoderForCausalLM)?.family ?? (model as? LlamaForSequenceClassification)?.configuration.family
        if let family {
            return method == .ia3 ? (.names(family.ia3Targets), .names(family.ia3FeedforwardTargets)) : (.names(family.loraTargets), nil)
        }
        switch (method, model is GPT2LMHeadModel) {
        case (.ia3, true): return (.names(["c_attn", "mlp.c_proj"]), .names(["mlp.c_proj"]))
        case (.ia3, false): return (.names(["key", "value", "output.dense"]), .names(["output.dense"]))
        case (_, true): return (.names(["c_attn"]), nil)
        default: return (.names(["query", "value"]), nil)
        }
    }

    /// `modules_to_save` with PEFT's additions for sequence classification (the head trains).
    static func modulesToSave(_ configuration: any AdapterConfiguration) -> [String] {
        var names = configuration.modulesToSave ?? []
        if configuration.taskType == "SEQ_CLS" { names += ["classifier", "score"].filter { !names.contains($0) } }
        return names
    }

    private static func isUnder(_ path: String, anyOf names: [String]) -> Bool {
        names.contains { name in path == name || path.hasSuffix("." + name) || path.hasPrefix(name + ".") || path.contains("." + name + ".") }
    }

    /// Selects targets without changing the model.
    static func plan(_ configuration: any AdapterConfiguration, model: Module) throws -> Plan {
        let candidates = adaptableModules(in: model)
        let linear = candidates.compactMap { entry in (entry.module as? any LinearLayer).map { (path: entry.path, layer: $0) } }
        let saveNames = modulesToSave(configuration)
        let targets: TargetModules, exclude: TargetModules?
        var layers: [Int]? = nil, layerPatterns: [String] = []
        switch configuration {
        case let lora as LoRAConfig:
            targets = lora.targetModules ?? defaultTargets(for: model, method: .lora).targets
            exclude = lora.excludeModules
            layers = lora.layersToTransform
            layerPatterns = lora.layersPattern ?? []
        case let ia3 as IA3Config:
            targets = ia3.targetModules ?? defaultTargets(for: model, method: .ia3).targets
            exclude = ia3.excludeModules
        default:
            throw PEFTError.unsupportedMethod(configuration.peftType.rawValue)
        }
        // all-linear: the last names of every linear layer except the output head.
        let allLinearNames = Set(linear.map { String($0.path.split(separator: ".").last!) }.filter { $0 != "lm_head" })
        let isTarget = try targets.matcher(allLinearNames: allLinearNames, field: "target_modules")
        let isExcluded = try exclude?.matcher(allLinearNames: allLinearNames, field: "exclude_modules") ?? { _ in false }
        let lora = configuration as? LoRAConfig
        var selected: [(String, Module)] = []
        var layersOfTargets = Set<Int>()  // the layers holding targets, for a layers_to_transform that selects none
        for (path, module) in candidates {
            guard isTarget(path), !isExcluded(path) else { continue }
            if isUnder(path, anyOf: saveNames) { continue }
            if let layers {
                let index = layerIndex(of: path, patterns: layerPatterns)
                if let index { layersOfTargets.insert(index) }
                // PEFT expands all-linear into names first, so the layer filter applies to it too.
                if case .pattern = targets { continue }
                guard let index, layers.contains(index) else { continue }
            }
            if module is any LinearLayer {
                selected.append((path, module))
            } else if let lora, !lora.useDoRA, module is any EmbeddingLayer, !(module is QuantizedEmbedding) {
                selected.append((path, module))
            } else {
                let method = lora?.useDoRA == true ? "DoRA" : configuration.peftType.rawValue
                throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: method)
            }
        }
        guard !selected.isEmpty else {
            if let layers, let first = layersOfTargets.min(), let last = layersOfTargets.max() {
                throw PEFTError.invalidConfiguration(field: "layers_to_transform",
                                                     reason: "\(layers) selects none of the layers holding the targets (layers \(first)…\(last))")
            }
            throw PEFTError.noTargetModules(targets: targets.summary, linearModules: linear.map(\.path))
        }
        let toSave = linear.filter { entry in saveNames.contains { entry.path == $0 || entry.path.hasSuffix("." + $0) } }
        var notices: [String] = []
        for name in configuration.modulesToSave ?? [] where !linear.contains(where: { $0.path == name || $0.path.hasSuffix("." + name) }) {
            notices.append("modules_to_save '\(name)' matches no linear module of the model; nothing is trained or saved for it")
        }
        if let lora {
            // A rank at or above a target's smaller side gives a full-rank update: no longer low-rank.
            let wide = selected.compactMap { path, module -> (String, Int, Int)? in
                guard let layer = module as? any LinearLayer else { return nil }
                let rank = lora.rankAndAlpha(for: path).rank
                return rank > min(layer.inFeatures, layer.outFeatures) ? (path, rank, min(layer.inFeatures, layer.outFeatures)) : nil
            }
            if let (path, rank, side) = wide.first {
                let more = wide.count > 1 ? " (and \(wide.count - 1) more targets)" : ""
                notices.append("r=\(rank) exceeds min(in, out) = \(side) of '\(path)'\(more): the update is no longer low-rank and costs more than training the layer")
            }
        }
        return Plan(targets: selected, modulesToSave: toSave, notices: notices)
    }

    /// Whether IA³ scales `path`'s input (a feed-forward module) rather than its output. An unset
    /// `feedforward_modules` takes the architecture's defaults whatever the targets, as PEFT fills it.
    static func isFeedforward(_ path: String, _ ia3: IA3Config, model: Module) throws -> Bool {
        let feedforward = ia3.feedforwardModules ?? defaultTargets(for: model, method: .ia3).feedforward
        return try feedforward?.matcher(allLinearNames: [], field: "feedforward_modules")(path) ?? false
    }

    /// Wraps the planned modules and adds adapter `name`; returns the configuration as stored
    /// (`fan_in_fan_out` set when a target stores `[in, out]`).
    static func apply(_ plan: Plan, configuration: any AdapterConfiguration, adapterName name: String, model: Module,
                      generator: inout SeededRandom) throws -> any AdapterConfiguration {
        var stored = configuration
        let transposed = plan.targets.contains { ($0.module as? any LinearLayer)?.weightLayout == .inputsByOutputs }
        let method = configuration.peftType.rawValue
        for (path, module) in plan.targets {
            switch configuration {
            case let lora as LoRAConfig:
                let (rank, alpha) = lora.rankAndAlpha(for: path)
                if let table = module as? any EmbeddingLayer {
                    let wrapper = try wrap(module, at: path, in: model, method: method) { LoRAEmbeddingLayer(wrapping: table) }
                    wrapper.addAdapter(name, rank: rank, alpha: alpha, rsLoRA: lora.useRSLoRA, initialization: lora.initialization,
                                       generator: &generator)
                    if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
                    continue
                }
                guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: method) }
                let wrapper = try wrap(module, at: path, in: model, method: method) { LoRALayer(wrapping: layer) }
                wrapper.addAdapter(name, rank: rank, alpha: alpha, dropout: lora.dropout, rsLoRA: lora.useRSLoRA, useDoRA: lora.useDoRA,
                                   initialization: lora.initialization, generator: &generator)
                if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
            case let ia3 as IA3Config:
                guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: method) }
                let isFeedforward = try isFeedforward(path, ia3, model: model)
                let wrapper = try wrap(module, at: path, in: model, method: method) { IA3Layer(wrapping: layer, isFeedforward: isFeedforward) }
                wrapper.addAdapter(name, identity: ia3.initializeToIdentity, generator: &generator)
                if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
            default:
                throw PEFTError.unsupportedMethod(method)
            }
        }
        for (path, layer) in plan.modulesToSave {
            let wrapper = try wrap(layer, at: path, in: model, method: "modules_to_save") { ModulesToSaveLayer(wrapping: layer) }
            try wrapper.addAdapter(name, path: path)
            if wrapper.activeAdapter == nil { wrapper.activeAdapter = name }
        }
        if transposed, var lora = stored as? LoRAConfig { lora.fanInFanOut = true; stored = lora }
        if transposed, var ia3 = stored as? IA3Config { ia3.fanInFanOut = true; stored = ia3 }
        // As PEFT saves it: unset targets and feed-forward modules written as the defaults they took.
        if var ia3 = stored as? IA3Config {
            let defaults = defaultTargets(for: model, method: .ia3)
            if ia3.targetModules == nil { ia3.targetModules = defaults.targets }
            if ia3.feedforwardModules == nil { ia3.feedforwardModules = defaults.feedforward }
            stored = ia3
        }
        return stored
    }

    /// The `Wrapper` at `path`: `layer` itself when it already is one (another adapter of the same
    /// method), otherwise a new wrapper put in its place. A layer wrapped by another method is refused.
    private static func wrap<Wrapper: Module>(_ layer: Module, at path: String, in model: Module, method: String,
                                              _ make: () -> Wrapper) throws -> Wrapper {
        if let existing = layer as? Wrapper { return existing }
        guard !(layer is any AdapterWrapper), !(layer is ModulesToSaveLayer) else {
            throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: layer))", method: method)
        }
        let wrapper = make()
        try model.replaceModule(at: path, with: wrapper)
        return wrapper
    }

    /// Frozen base tensors PEFT writes with adapter `name` (adapted embedding tables), with their keys.
    static func savedBaseTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] {
        model.namedModules().flatMap { entry -> [(key: String, parameter: Variable)] in
            guard let layer = entry.module as? any AdapterWrapper, layer.adapterNames.contains(name) else { return [] }
            return layer.savedBaseTensors.map { ("\(entry.path).\($0.key)", $0.parameter) }
        }
    }

    /// Every adapter layer of the model.
    static func adapterLayers(in model: Module) -> [any AdapterWrapper] {
        model.namedModules().compactMap { $0.module as? any AdapterWrapper }
    }

    /// Removes adapter `name` everywhere; wrappers left without adapters are replaced by what they wrap.
    static func remove(_ name: String, from model: Module) {
        for (path, module) in model.namedModules().reversed() {
            if let layer = module as? any AdapterWrapper {
                layer.deleteAdapter(name)
                if layer.adapterNames.isEmpty { try? model.replaceModule(at: path, with: layer.wrappedModule) }
            } else if let layer = module as? ModulesToSaveLayer {
                layer.deleteAdapter(name)
                if layer.adapterNames.isEmpty { try? model.replaceModule(at: path, with: layer.original) }
            }
        }
    }

    /// Replaces every wrapper by its base layer (`modules_to_save`: by the active adapter's copy).
    static func unwrapAll(_ model: Module, activeAdapter: String) throws {
        for (path, module) in model.namedModules().reversed() {
            if let layer = module as? any AdapterWrapper {
                try model.replaceModule(at: path, with: layer.wrappedModule)
            } else if let layer = module as? ModulesToSaveLayer {
                try model.replaceModule(at: path, with: (layer.copy(activeAdapter) ?? layer.original) as Module)
            }
        }
    }

    /// The tensors adapter `name` trains and saves, with their PEFT keys (without `base_model.model.`):
    /// adapter tensors, `modules_to_save` copies under the plain name, and biases per `bias`.
    static func trainableTensors(_ name: String, configuration: any AdapterConfiguration, model: Module)
        -> [(key: String, parameter: Variable)] {
        var result: [(String, Variable)] = []
        let bias = (configuration as? LoRAConfig)?.bias ?? LoRABias.none
        var wrapped: [String] = []
        for (path, module) in model.namedModules() where !path.isEmpty {
            if let layer = module as? any AdapterWrapper {
                wrapped.append(path)
                result += layer.adapterTensors(name).map { ("\(path).\($0.key)", $0.parameter) }
                if bias == .loraOnly, let lora = layer as? LoRALayer, lora.adapterNames.contains(name), let b = lora.baseLayer.bias {
                    result.append(("\(path).\(Module.wrappedLayerName).bias", b))
                }
            } else if let layer = module as? ModulesToSaveLayer {
                wrapped.append(path)
                if let copy = layer.copy(name) {
                    result += copy.namedParameters().map { ("\(path).\($0.path)", $0.parameter) }
                }
            }
        }
        if bias == .all {
            for (path, parameter) in model.namedParameters() where path.hasSuffix(".bias") {
                guard !path.contains(".modules_to_save.") && !path.contains(".original_module.") else { continue }
                result.append((path, parameter))
            }
        }
        return result
    }
}
