import Models
import NN

extension PeftModel {
    /// The number of trainable values attaching `configuration` to `model` would create, computed
    /// from the targets' shapes without allocating anything (each method counts its own tensors:
    /// LoRA's A and B, IA³'s vectors, prompt tuning's table …), plus the full copies of `modules_to_save`. Tools check it against the machine's memory before attaching.
    /// - Throws: what attaching would throw for the targets (`PEFTError`).
    public static func plannedTrainableCount(_ configuration: any AdapterConfiguration, model: Module) throws -> Int {
        try configuration.validate()
        if let prompt = configuration as? any PromptLearningConfiguration { return prompt.trainableCount(in: model) }
        guard let layered = configuration as? any LayerAdapterConfiguration else { throw PEFTError.unsupportedMethod(configuration.peftType.rawValue) }
        let plan = try Injection.plan(configuration, model: model)
        var count = plan.modulesToSave.reduce(0) { $0 + $1.layer.inFeatures * $1.layer.outFeatures + $1.layer.outFeatures }
        for (path, module) in plan.targets { count += try layered.trainableCount(of: module, at: path, in: model) }
        return count
    }
}
