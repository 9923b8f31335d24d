import Autograd
import Models
import NN
import Tensors

extension PeftType {
    /// LoHa: a Hadamard product of two low-rank factors.
    public static let loha = PeftType(rawValue: "LOHA")
}

extension AdapterMethod {
    /// LoHa, with `--method loha`.
    public static let loha = AdapterMethod(peftType: .loha, readConfiguration: { try LoHaConfig(json: $0) }, commandLine: [
        CommandLineVariant(name: "loha", summary: "LoHa: ΔW = (W1a·W1b) ⊙ (W2a·W2b), rank up to r² for 2r(in+out) values",
                           options: [.rank, .alpha, rankDropout, moduleDropout]) { values in
            LoHaConfig(rank: values.integer(.rank), alpha: values.number(.alpha), rankDropout: values.number(rankDropout),
                       moduleDropout: values.number(moduleDropout), targetModules: values.targets, modulesToSave: values.modulesToSave,
                       taskType: values.taskType, baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension LoHaConfig {
    /// Wraps the layer in a `LoHaLayer`.
    public func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws {
        try checkTarget(module, at: path)
        let layer = module as! any LinearLayer
        let (rank, alpha) = lycoris.rankAndAlpha(for: path)
        let wrapper = try Injection.wrapper(module, at: path, in: model, method: "LOHA") { LoHaLayer(wrapping: layer) }
        wrapper.addAdapter(name, rank: rank, alpha: alpha, rankDropout: lycoris.rankDropout, moduleDropout: lycoris.moduleDropout,
                           identity: initializeToIdentity, generator: &generator)
        if wrapper.activeAdapters.isEmpty { wrapper.activeAdapters = [name] }
    }

    /// Four factors: 2·r·(in + out).
    public func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int {
        guard let layer = module as? any LinearLayer else { return 0 }
        return 2 * lycoris.rankAndAlpha(for: path).rank * (layer.inFeatures + layer.outFeatures)
    }
}
