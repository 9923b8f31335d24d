import Models
import NN

extension TrainingMemory {
    /// The predicted peak of training `module` on `dataset` with `arguments`: the longest example
    /// (or packed row, plus `prefixTokens` virtual tokens) in a full batch; `addedTrainable` values
    /// still to be attached, `attachedTrainable` already there.
    public static func predicted(for module: Module, dataset: TrainingDataset, arguments: TrainingArguments, prefixTokens: Int = 0,
                                 addedTrainable: Int = 0, attachedTrainable: Int = 0) -> TrainingMemory {
        let longest = arguments.packing ? (arguments.packedRowLength ?? dataset.lengths.max() ?? 1) : (dataset.lengths.max() ?? 1)
        let length = longest + prefixTokens
        let labelled = dataset.examples.map(\.targetCount).max() ?? 1
        var memory = estimate(for: module, batch: arguments.batchSize, length: length, labelled: labelled * arguments.batchSize,
                              trainableCount: addedTrainable, gradientCheckpointing: arguments.gradientCheckpointing)
        memory.trainable += 12 * attachedTrainable  // gradients and two AdamW moments of what is attached
        return memory
    }

    /// Refuses a run whose predicted peak exceeds what the machine allows (`limit`), with the
    /// prediction's parts named: better than an abort after minutes of growing.
    /// - Throws: `TrainingError.insufficientMemory`.
    public func requireFits(limit: Int = MachineMemory.limit) throws {
        guard total > limit else { return }
        throw TrainingError.insufficientMemory(needed: total, limit: limit, breakdown: breakdown)
    }
}
