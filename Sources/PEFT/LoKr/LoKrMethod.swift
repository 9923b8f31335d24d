import Autograd
import NN
import Tensors

extension PeftType {
    /// LoKr: a Kronecker product of two (low-rank) factors.
    public static let lokr = PeftType(rawValue: "LOKR")
}

extension AdapterMethod {
    /// LoKr, with `--method lokr`.
    public static let lokr = AdapterMethod(peftType: .lokr, readConfiguration: { try LoKrConfig(json: $0) }, commandLine: [
        CommandLineVariant(name: "lokr", summary: "LoKr: ΔW = W1 ⊗ W2 (Kronecker), the fewest values per layer",
                           options: [.rank, .alpha, rankDropout, moduleDropout]) { values in
            LoKrConfig(rank: values.integer(.rank), alpha: values.number(.alpha), rankDropout: values.number(rankDropout),
                       moduleDropout: values.number(moduleDropout), targetModules: values.targets, modulesToSave: values.modulesToSave,
                       taskType: values.taskType, baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension LoKrConfig {
    /// Wraps the layer in a `LoKrLayer`.
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        try checkTarget(module, at: path)
        let layer = module as! any LinearLayer
        let (rank, alpha) = lycoris.rankAndAlpha(for: path)
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "LOKR") { LoKrLayer(wrapping: layer) }
        wrapper.addAdapter(name, rank: rank, alpha: alpha, rankDropout: lycoris.rankDropout, moduleDropout: lycoris.moduleDropout,
                           rankDropoutScale: rankDropoutScale, decomposeBoth: decomposeBoth, factor: decomposeFactor,
                           initialization: initialization, generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    /// The factors' values (`LoKrShapes.count`).
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        guard let layer = module as? any LinearLayer else { return 0 }
        let rank = lycoris.rankAndAlpha(for: path).rank
        return LoKrShapes(inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, rank: rank, decomposeBoth: decomposeBoth,
                          factor: decomposeFactor).count(rank: rank)
    }
}
