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

    /// The default-target table of `model`'s family; models that do not say are recognised by their
    /// module names (Llama-style `q_proj`, BERT's `query`, GPT-2's `c_attn`).
    static func defaultTargets(for model: Module) -> DefaultAdapterTargets? {
        if let known = model as? HasDefaultAdapterTargets { return known.defaultAdapterTargets }
        let names = Set(model.namedModules().map { $0.path.split(separator: ".").last.map(String.init) ?? "" })
        if names.contains("q_proj") { return .llama }
        if names.contains("query") { return .bert }
        if names.contains("c_attn") { return .gpt2 }
        return nil
    }

    /// The targets `configuration` takes on `model`: its own, or the family's defaults.
    static func targets(of configuration: any LayerAdapterConfiguration, model: Module) throws -> TargetModules {
        if let targets = configuration.targetModules { return targets }
        guard let defaults = defaultTargets(for: model) else {
            throw PEFTError.invalidConfiguration(field: "target_modules", reason: "\(type(of: model)) has no default targets; name the modules to adapt")
        }
        return .names(defaults[keyPath: type(of: configuration).defaultTargets])
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
        guard let layered = configuration as? any LayerAdapterConfiguration else {
            throw PEFTError.unsupportedMethod(configuration.peftType.rawValue)
        }
        let candidates = adaptableModules(in: model)
        let linear = candidates.compactMap { entry in (entry.module as? any LinearLayer).map { (path: entry.path, layer: $0) } }
        let saveNames = modulesToSave(configuration)
        let targets = try self.targets(of: layered, model: model)
        let layers = layered.layersToTransform, layerPatterns = layered.layersPattern ?? []
        // all-linear: the last names of every linear layer except the output head.
        let allLinearNames = Set(linear.map { String($0.path.split(separator: ".").last!) }.filter { $0 != "lm_head" })
        let isTarget = try targets.matcher(allLinearNames: allLinearNames, field: "target_modules")
        let isExcluded = try layered.excludeModules?.matcher(allLinearNames: allLinearNames, field: "exclude_modules") ?? { _ in false }
        var selected: [(path: String, module: Module)] = []
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
            try layered.checkTarget(module, at: path)
            selected.append((path, module))
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
        notices += layered.notices(for: selected)
        return Plan(targets: selected, modulesToSave: toSave, notices: notices)
    }

    /// Wraps the planned modules and adds adapter `name`; returns the configuration as stored
    /// (unset targets written as the defaults they took, and what the method derives).
    static func apply(_ plan: Plan, configuration: any AdapterConfiguration, adapterName name: String, model: Module,
                      generator: inout SeededRandom) throws -> any AdapterConfiguration {
        guard var layered = configuration as? any LayerAdapterConfiguration else {
            throw PEFTError.unsupportedMethod(configuration.peftType.rawValue)
        }
        for (path, module) in plan.targets {
            try layered.attach(name, to: module, at: path, in: model, generator: &generator)
        }
        for (path, layer) in plan.modulesToSave {
            let wrapper = try wrapper(layer, at: path, in: model, method: "modules_to_save") { ModulesToSaveLayer(wrapping: layer) }
            try wrapper.addAdapter(name, path: path)
            if wrapper.activeAdapter == nil { wrapper.activeAdapter = name }
        }
        // As PEFT saves it: unset targets written as the defaults they took, all-linear as the names it matched.
        if layered.targetModules == nil { layered.targetModules = try targets(of: layered, model: model) }
        if layered.targetModules == .allLinear {
            layered.targetModules = .names(Set(plan.targets.map { String($0.path.split(separator: ".").last!) }).sorted())
        }
        return try layered.stored(afterAttachingTo: plan.targets, model: model)
    }

    /// The `Wrapper` at `path`: `layer` itself when it already is one (another adapter of the same
    /// method), otherwise a new wrapper put in its place. A layer wrapped by another method is refused.
    static func wrapper<Wrapper: Module>(_ layer: Module, at path: String, in model: Module, method: String,
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
    /// adapter tensors, `modules_to_save` copies under the plain name, and what the method adds.
    static func trainableTensors(_ name: String, configuration: any AdapterConfiguration, model: Module)
        -> [(key: String, parameter: Variable)] {
        var result: [(key: String, parameter: Variable)] = []
        for (path, module) in model.namedModules() where !path.isEmpty {
            if let layer = module as? any AdapterWrapper {
                result += layer.adapterTensors(name).map { ("\(path).\($0.key)", $0.parameter) }
            } else if let layer = module as? ModulesToSaveLayer, let copy = layer.copy(name) {
                result += copy.namedParameters().map { ("\(path).\($0.path)", $0.parameter) }
            }
        }
        if let layered = configuration as? any LayerAdapterConfiguration { result += layered.extraTrainableTensors(name, model: model) }
        return result
    }
}
