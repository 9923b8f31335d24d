import Autograd
import Models
import NN
import Tensors

extension PeftType {
    /// LoRA and its variants (rsLoRA, DoRA).
    public static let lora = PeftType(rawValue: "LORA")
}

extension AdapterMethod {
    /// LoRA, with `--method lora`, `dora` and `rslora`.
    public static let lora = AdapterMethod(peftType: .lora, readConfiguration: { try LoRAConfig(json: $0) }, commandLine: [
        variant("lora", "LoRA: a low-rank update s·B·A beside each target"),
        variant("dora", "DoRA: LoRA with a learned magnitude per output row"),
        variant("rslora", "rsLoRA: LoRA scaled by alpha/√r (stable at high ranks)"),
    ])

    /// `--dropout P`: LoRA's dropout on the adapter input.
    static let loraDropout = AdapterOption(name: "dropout", placeholder: "P", help: "Dropout on the adapter input",
                                           kind: .number(default: 0, range: 0...0.99))

    private static func variant(_ name: String, _ summary: String) -> CommandLineVariant {
        CommandLineVariant(name: name, summary: summary, options: [.rank, .alpha, loraDropout]) { values in
            LoRAConfig(rank: values.integer(.rank), alpha: values.number(.alpha), dropout: values.number(loraDropout), targetModules: values.targets,
                       useRSLoRA: name == "rslora", useDoRA: name == "dora", modulesToSave: values.modulesToSave, taskType: values.taskType,
                       baseModelNameOrPath: values.baseModelNameOrPath)
        }
    }
}

extension LoRAConfig: LayerAdapterConfiguration {
    /// The low-rank entry (`q_proj`, `v_proj` for Llama).
    public static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { \.lowRank }

    /// Linear layers, and token embeddings (not packed ones, not with DoRA).
    public func checkTarget(_ module: Module, at path: String) throws {
        if module is any LinearLayer { return }
        if !useDoRA, module is any EmbeddingLayer, !(module is QuantizedEmbedding) { return }
        throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: useDoRA ? "DoRA" : "LORA")
    }

    /// Wraps a linear layer in a `LoRALayer` or an embedding in a `LoRAEmbeddingLayer`.
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        let (rank, alpha) = rankAndAlpha(for: path)
        if let table = module as? any EmbeddingLayer {
            let wrapper = try Injection.wrapper(module, at: path, in: model, method: "LORA") { LoRAEmbeddingLayer(wrapping: table) }
            wrapper.addAdapter(name, rank: rank, alpha: alpha, rsLoRA: useRSLoRA, initialization: initialization, generator: &generator)
            if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
            return
        }
        guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: "LORA") }
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "LORA") { LoRALayer(wrapping: layer) }
        wrapper.addAdapter(name, rank: rank, alpha: alpha, dropout: dropout, rsLoRA: useRSLoRA, useDoRA: useDoRA,
                           initialization: initialization, generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    /// A and B (and DoRA's magnitudes).
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        let rank = rankAndAlpha(for: path).rank
        if let layer = module as? any LinearLayer { return rank * (layer.inFeatures + layer.outFeatures) + (useDoRA ? layer.outFeatures : 0) }
        if let table = module as? any EmbeddingLayer { return rank * (table.count + table.dimension) }
        return 0
    }

    /// `fan_in_fan_out` set when a target stores its weight `[in, out]` (GPT-2's `Conv1D`).
    public func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration {
        var stored = self
        if Injection.storesInputsByOutputs(targets) { stored.fanInFanOut = true }
        return stored
    }

    /// A rank at or above a target's smaller side gives a full-rank update: no longer low-rank.
    public func notices(for targets: [(path: String, module: Module)]) -> [String] {
        let wide = targets.compactMap { path, module -> (String, Int, Int)? in
            guard let layer = module as? any LinearLayer else { return nil }
            let rank = rankAndAlpha(for: path).rank, side = min(layer.inFeatures, layer.outFeatures)
            return rank > side ? (path, rank, side) : nil
        }
        guard let (path, rank, side) = wide.first else { return [] }
        let more = wide.count > 1 ? " (and \(wide.count - 1) more targets)" : ""
        return ["r=\(rank) exceeds min(in, out) = \(side) of '\(path)'\(more): the update is no longer low-rank and costs more than training the layer"]
    }

    /// The biases `bias` trains: those of the wrapped layers (`lora_only`) or every one (`all`).
    public func extraTrainableTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] {
        bias.trained.tensors(name, model: model)
    }
}
