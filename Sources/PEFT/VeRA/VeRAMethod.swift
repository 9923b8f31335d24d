import Autograd
import Models
import NN
import Tensors

extension PeftType {
    /// VeRA: shared frozen random projections, trained scaling vectors.
    public static let vera = PeftType(rawValue: "VERA")
}

extension AdapterMethod {
    /// `--dropout P`: VeRA's dropout on the adapter input (`vera_dropout`).
    static let veraDropout = AdapterOption(name: "dropout", placeholder: "P", help: "Dropout on the adapter input",
                                           kind: .number(default: 0, range: 0...0.99))

    /// VeRA, with `--method vera`.
    public static let vera = AdapterMethod(peftType: .vera, readConfiguration: { try VeRAConfig(json: $0) }, commandLine: [
        CommandLineVariant(name: "vera", summary: "VeRA: frozen shared random A, B; trains only two vectors per layer",
                           options: [AdapterOption.rank.withDefault(256), veraDropout]) { values in
            VeRAConfig(rank: values.integer(AdapterOption.rank.withDefault(256)), targetModules: values.targets, dropout: values.number(veraDropout),
                       modulesToSave: values.modulesToSave, taskType: values.taskType, baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension VeRAConfig {
    /// The low-rank entry (`q_proj`, `v_proj` for Llama), as PEFT's VeRA table.
    public static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { \.lowRank }

    /// Wraps the layer in a `VeRALayer` sharing the adapter's projection (drawn when the first
    /// target is attached, sized for the largest of all targets, as PEFT sizes it).
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        guard let layer = module as? any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: "VERA") }
        let projection = try existingProjection(name, model: model) ?? makeProjection(model: model)
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "VERA") { VeRALayer(wrapping: layer) }
        wrapper.addAdapter(name, projection: projection, dropout: dropout, initialD: initialD, identity: initializeToIdentity, generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    private func existingProjection(_ name: String, model: Module) -> VeRAProjection? {
        model.namedModules().lazy.compactMap { ($0.module as? VeRALayer)?.projections[name] }.first
    }

    /// A projection of rank r as wide as the widest target and as tall as the tallest.
    private func makeProjection(model: Module) throws -> VeRAProjection {
        let layers = try Injection.plan(self, model: model).targets.compactMap { $0.module as? any LinearLayer }
        return VeRAProjection(rank: rank, largestIn: layers.map(\.inFeatures).max() ?? 0, largestOut: layers.map(\.outFeatures).max() ?? 0,
                              seed: projectionSeed)
    }

    /// The two vectors: out + r.
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        guard let layer = module as? any LinearLayer else { return 0 }
        return layer.outFeatures + rank
    }

    /// `fan_in_fan_out` set when a target stores its weight `[in, out]` (GPT-2's `Conv1D`).
    public func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration {
        var stored = self
        if Injection.storesInputsByOutputs(targets) { stored.fanInFanOut = true }
        return stored
    }

    /// The biases `bias` trains: those of the wrapped layers (`vera_only`) or every one (`all`).
    public func extraTrainableTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] {
        bias.trained.tensors(name, model: model)
    }

    /// The shared projections, `base_model.vera_A` and `base_model.vera_B`, saved when `save_projection`.
    public func sharedTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable, saved: Bool)] {
        guard let projection = existingProjection(name, model: model) else { return [] }
        return [("base_model.vera_A", projection.a, saveProjection), ("base_model.vera_B", projection.b, saveProjection)]
    }
}
