import NN
import Tensors

extension PeftType {
    /// Prompt tuning: learned virtual-token embeddings.
    public static let promptTuning = PeftType(rawValue: "PROMPT_TUNING")
}

extension AdapterMethod {
    /// `--virtual-tokens N`: prompt tuning's virtual tokens.
    static let virtualTokens = AdapterOption(name: "virtual-tokens", placeholder: "N", help: "Virtual tokens learned before the input",
                                             kind: .integer(default: 20, range: 1...65_536))

    /// Prompt tuning, with `--method prompt`.
    public static let promptTuning = AdapterMethod(peftType: .promptTuning, readConfiguration: { try PromptTuningConfig(json: $0) }, commandLine: [
        CommandLineVariant(name: "prompt", summary: "Prompt tuning: learned virtual-token embeddings before the input", options: [virtualTokens]) { values in
            PromptTuningConfig(virtualTokenCount: values.integer(virtualTokens), taskType: values.taskType, baseModelNameOrPath: values.baseModelNameOrPath)
        },
    ])
}

extension PromptTuningConfig: PromptLearningConfiguration {
    /// The virtual-token table, initialised as configured (randomly when loading: weights follow).
    public func makeEmbedding(for model: Module, initialTokens: [Int]?, loading: Bool, generator: inout SeededRandom) throws -> PromptEmbedding {
        var configuration = self
        if loading { configuration.initialization = .random }
        return try PromptEmbedding(configuration: configuration, model: model, initialTokens: initialTokens, generator: &generator)
    }

    /// `token_dim` recorded from the table.
    public func stored(with embedding: PromptEmbedding) -> any AdapterConfiguration {
        var stored = self
        stored.tokenDimension = embedding.weight.shape[1]
        return stored
    }
}
