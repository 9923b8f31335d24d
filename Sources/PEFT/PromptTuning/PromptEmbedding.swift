import Autograd
import NN
import Tensors

/// The learned virtual-token embeddings of a prompt-tuning adapter, `[tokens, hidden]`; models take
/// them as `prefix:` and prepend them to the token embeddings (saved as `prompt_embeddings`).
public final class PromptEmbedding: Module {
    /// `[virtual tokens, hidden]`.
    public var weight: Variable { parameter("weight") }

    /// Initialises from the configuration and the model's token embedding table.
    /// - Parameter initialTokens: token ids of `prompt_tuning_init_text` (TEXT initialisation).
    public init(configuration: PromptTuningConfig, model: Module, initialTokens: [Int]? = nil, generator: inout SeededRandom) throws {
        guard let table = PromptEmbedding.tokenEmbedding(of: model) else {
            throw PEFTError.unsupportedTarget(path: "(model)", type: "\(type(of: model))", method: "prompt tuning (no token embedding found)")
        }
        let (rows, hidden) = (table.weight.shape[0], table.weight.shape[1])
        if let dimension = configuration.tokenDimension, dimension != hidden {
            throw PEFTError.invalidConfiguration(field: "token_dim", reason: "\(dimension) does not match the model's hidden size \(hidden)")
        }
        let count = configuration.virtualTokenCount
        let value: Tensor
        switch configuration.initialization {
        case .random:
            value = .randomNormal([count, hidden], generator: &generator)
        case .sampleVocabulary:
            value = try table.weight.value.gatherRows((0..<count).map { _ in Int(generator.next() % UInt64(rows)) })
        case .text:
            guard let ids = initialTokens, !ids.isEmpty else {
                throw PEFTError.invalidConfiguration(field: "prompt_tuning_init_text", reason: "TEXT initialisation needs the text's token ids (initialTokens)")
            }
            let repeated = (0..<count).map { ids[$0 % ids.count] }
            do { value = try table.weight.value.gatherRows(repeated) } catch {
                throw PEFTError.invalidConfiguration(field: "prompt_tuning_init_text", reason: "a token id is outside the vocabulary of \(rows)")
            }
        }
        super.init()
        registerParameter("weight", Variable(value, requiresGrad: true))
    }

    /// The model's input token embedding (`embed_tokens`, `wte` or `word_embeddings`).
    static func tokenEmbedding(of model: Module) -> (any EmbeddingLayer)? {
        for (path, module) in model.namedModules() {
            guard let embedding = module as? any EmbeddingLayer else { continue }
            let name = path.split(separator: ".").last.map(String.init) ?? ""
            if ["embed_tokens", "wte", "word_embeddings"].contains(name) { return embedding }
        }
        return nil
    }
}
