import Autograd
import Foundation
import ModelIO
import NN
import Tensors

/// Hyper-parameters of GPT-2.
public struct GPT2Configuration: Sendable, Equatable {
    /// Token ids with embeddings and logits (`vocab_size`).
    public var vocabularySize: Int
    /// Positions with embeddings (`n_positions`).
    public var contextLength: Int
    /// Width of the residual stream (`n_embd`).
    public var embeddingSize: Int
    /// Blocks (`n_layer`).
    public var layerCount: Int
    /// Attention heads (`n_head`).
    public var heads: Int
    /// LayerNorm epsilon (`layer_norm_epsilon`).
    public var layerNormEpsilon: Float

    /// A configuration from its fields.
    public init(vocabularySize: Int, contextLength: Int, embeddingSize: Int, layerCount: Int, heads: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.embeddingSize = embeddingSize
        self.layerCount = layerCount
        self.heads = heads
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// Reads a transformers `config.json` with `model_type` "gpt2".
    public init(json: JSONValue) throws {
        let type = json["model_type"]?.string ?? "gpt2"
        guard type == "gpt2" else { throw ModelError.unsupportedArchitecture(type) }
        func integer(_ key: String) throws -> Int { try json.configurationInteger(key) }
        if let activation = json["activation_function"]?.string, !["gelu_new", "gelu_pytorch_tanh"].contains(activation) {
            throw ModelError.invalidConfiguration(field: "activation_function", reason: "'\(activation)' is not supported")
        }
        self.init(vocabularySize: try integer("vocab_size"), contextLength: try integer("n_positions"),
                  embeddingSize: try integer("n_embd"), layerCount: try integer("n_layer"), heads: try integer("n_head"),
                  layerNormEpsilon: Float(json["layer_norm_epsilon"]?.number ?? 1e-5))
        try validate()
    }

    /// Checks sizes against `ConfigurationLimits` and that the heads divide the width.
    public func validate() throws {
        typealias Limits = ConfigurationLimits
        try Limits.require(vocabularySize, in: 1...Limits.rows, "vocab_size")
        try Limits.require(contextLength, in: 1...Limits.rows, "n_positions")
        try Limits.require(embeddingSize, in: 1...(Limits.width / 4), "n_embd")
        try Limits.require(layerCount, in: 1...Limits.count, "n_layer")
        try Limits.require(heads, in: 1...Limits.count, "n_head")
        guard embeddingSize % heads == 0 else {
            throw ModelError.invalidConfiguration(field: "n_head", reason: "\(heads) does not divide n_embd \(embeddingSize)")
        }
    }
}
