import Models
import NN

extension PeftModel {
    /// The number of trainable values attaching `configuration` to `model` would create, computed
    /// from the targets' shapes without allocating anything: LoRA's A and B (and DoRA's magnitudes,
    /// LoRA on embeddings), IA³'s vectors, prompt tuning's virtual-token table, plus the full copies
    /// of `modules_to_save`. Tools check it against the machine's memory before attaching.
    /// - Throws: what attaching would throw for the targets (`PEFTError`).
    public static func plannedTrainableCount(_ configuration: any AdapterConfiguration, model: Module) throws -> Int {
        try configuration.validate()
        if let prompt = configuration as? PromptTuningConfig {
            let dimension = model.namedModules().lazy.compactMap { ($0.module as? any EmbeddingLayer)?.dimension }.first ?? 0
            return prompt.virtualTokenCount * dimension
        }
        let plan = try Injection.plan(configuration, model: model)
        var count = plan.modulesToSave.reduce(0) { $0 + $1.layer.inFeatures * $1.layer.outFeatures + $1.layer.outFeatures }
        for (path, module) in plan.targets {
            switch (configuration, module) {
            case let (lora as LoRAConfig, layer as any LinearLayer):
                count += lora.rankAndAlpha(for: path).rank * (layer.inFeatures + layer.outFeatures) + (lora.useDoRA ? layer.outFeatures : 0)
            case let (lora as LoRAConfig, table as any EmbeddingLayer):
                count += lora.rankAndAlpha(for: path).rank * (table.count + table.dimension)
            case let (ia3 as IA3Config, layer as any LinearLayer):
                count += try Injection.isFeedforward(path, ia3, model: model) ? layer.inFeatures : layer.outFeatures
            default:
                break
            }
        }
        return count
    }
}
