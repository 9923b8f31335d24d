import Foundation
import ModelIO

/// The parameter names and shapes a configuration implies, computed without allocating, and checked
/// against a checkpoint's tensor directory before the model is built — so a configuration that
/// disagrees with its weights (a hostile field, a truncated file) fails cheaply with every mismatch
/// named, instead of allocating what the configuration claims.
public struct ParameterPlan: Sendable {
    /// Parameter names and shapes in model order.
    public private(set) var shapes: [(name: String, shape: [Int])] = []

    /// An empty plan.
    public init() {}

    /// Adds a parameter.
    public mutating func add(_ name: String, _ shape: [Int]) { shapes.append((name, shape)) }

    /// Adds a parameter and its bias `[shape[0]]` (PyTorch's `Linear` with bias).
    public mutating func addLinear(_ name: String, out: Int, in inputs: Int, bias: Bool) {
        add("\(name).weight", [out, inputs])
        if bias { add("\(name).bias", [out]) }
    }

    /// Total number of scalars, or an error when it overflows or passes `limit`.
    public func elementCount(limit: Int = 1 << 40) throws -> Int {
        var total = 0
        for (name, shape) in shapes {
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow, dimension >= 0 else { throw ModelError.invalidConfiguration(field: name, reason: "shape \(shape) is too large") }
                count = product
            }
            let (sum, overflow) = total.addingReportingOverflow(count)
            guard !overflow, sum <= limit else {
                throw ModelError.invalidConfiguration(field: "parameters", reason: "the configuration implies more than \(limit) parameters")
            }
            total = sum
        }
        return total
    }

    /// Checks a checkpoint's tensor shapes by name: every planned parameter must be there with its
    /// exact shape. Names the checkpoint has beyond the plan are ignored here (loading reports them).
    /// - Throws: `ModelError.missingWeights` (all of them) or `.shapeMismatch` (the first, by name).
    public func verify(against found: [String: [Int]]) throws {
        _ = try elementCount()
        let missing = shapes.map(\.name).filter { found[$0] == nil }.sorted()
        guard missing.isEmpty else { throw ModelError.missingWeights(missing) }
        for (name, shape) in shapes.sorted(by: { $0.name < $1.name }) where found[name] != shape {
            throw ModelError.shapeMismatch(name: name, expected: shape, found: found[name]!)
        }
    }
}

extension DecoderConfiguration {
    /// Every parameter of `DecoderForCausalLM` for this family (`withHead: false`: the backbone alone).
    public func parameterPlan(withHead: Bool = true) -> ParameterPlan {
        var plan = ParameterPlan()
        let (h, q, kv, d) = (hiddenSize, attentionHeads * headDimension, keyValueHeads * headDimension, headDimension)
        plan.add("model.embed_tokens.weight", [vocabularySize, h])
        for layer in 0..<layerCount {
            let prefix = "model.layers.\(layer)"
            if family.fusesProjections {
                plan.addLinear("\(prefix).self_attn.qkv_proj", out: q + 2 * kv, in: h, bias: attentionBias)
            } else {
                plan.addLinear("\(prefix).self_attn.q_proj", out: q, in: h, bias: attentionBias)
                plan.addLinear("\(prefix).self_attn.k_proj", out: kv, in: h, bias: attentionBias)
                plan.addLinear("\(prefix).self_attn.v_proj", out: kv, in: h, bias: attentionBias)
            }
            plan.addLinear("\(prefix).self_attn.o_proj", out: h, in: q, bias: false)
            if family.normalizesQueriesAndKeys {
                plan.add("\(prefix).self_attn.q_norm.weight", [d])
                plan.add("\(prefix).self_attn.k_norm.weight", [d])
            }
            if family.fusesProjections {
                plan.addLinear("\(prefix).mlp.gate_up_proj", out: 2 * intermediateSize, in: h, bias: mlpBias)
            } else {
                plan.addLinear("\(prefix).mlp.gate_proj", out: intermediateSize, in: h, bias: mlpBias)
                plan.addLinear("\(prefix).mlp.up_proj", out: intermediateSize, in: h, bias: mlpBias)
            }
            plan.addLinear("\(prefix).mlp.down_proj", out: h, in: intermediateSize, bias: mlpBias)
            plan.add("\(prefix).input_layernorm.weight", [h])
            plan.add("\(prefix).post_attention_layernorm.weight", [h])
            if family.normPlacement == .aroundSublayers {
                plan.add("\(prefix).pre_feedforward_layernorm.weight", [h])
                plan.add("\(prefix).post_feedforward_layernorm.weight", [h])
            }
        }
        plan.add("model.norm.weight", [h])
        if withHead && !tieWordEmbeddings { plan.add("lm_head.weight", [vocabularySize, h]) }
        return plan
    }
}

extension GPT2Configuration {
    /// Every parameter of `GPT2LMHeadModel` (`Conv1D` weights `[in, out]`).
    public func parameterPlan() -> ParameterPlan {
        var plan = ParameterPlan()
        let c = embeddingSize
        plan.add("transformer.wte.weight", [vocabularySize, c])
        plan.add("transformer.wpe.weight", [contextLength, c])
        func conv(_ name: String, _ inputs: Int, _ outputs: Int) {
            plan.add("\(name).weight", [inputs, outputs])
            plan.add("\(name).bias", [outputs])
        }
        func norm(_ name: String) {
            plan.add("\(name).weight", [c])
            plan.add("\(name).bias", [c])
        }
        for layer in 0..<layerCount {
            let prefix = "transformer.h.\(layer)"
            norm("\(prefix).ln_1")
            conv("\(prefix).attn.c_attn", c, 3 * c)
            conv("\(prefix).attn.c_proj", c, c)
            norm("\(prefix).ln_2")
            conv("\(prefix).mlp.c_fc", c, 4 * c)
            conv("\(prefix).mlp.c_proj", 4 * c, c)
        }
        norm("transformer.ln_f")
        return plan
    }
}

extension BertConfiguration {
    /// Every parameter of `BertModel`, names prefixed with `prefix` (`"bert."` inside a classifier).
    public func parameterPlan(prefix: String = "") -> ParameterPlan {
        var plan = ParameterPlan()
        let h = hiddenSize
        func norm(_ name: String) {
            plan.add("\(prefix)\(name).weight", [h])
            plan.add("\(prefix)\(name).bias", [h])
        }
        plan.add("\(prefix)embeddings.word_embeddings.weight", [vocabularySize, h])
        plan.add("\(prefix)embeddings.position_embeddings.weight", [maxPositionEmbeddings, h])
        plan.add("\(prefix)embeddings.token_type_embeddings.weight", [typeVocabularySize, h])
        norm("embeddings.LayerNorm")
        for layer in 0..<layerCount {
            let block = "encoder.layer.\(layer)"
            for name in ["query", "key", "value"] { plan.addLinear("\(prefix)\(block).attention.self.\(name)", out: h, in: h, bias: true) }
            plan.addLinear("\(prefix)\(block).attention.output.dense", out: h, in: h, bias: true)
            norm("\(block).attention.output.LayerNorm")
            plan.addLinear("\(prefix)\(block).intermediate.dense", out: intermediateSize, in: h, bias: true)
            plan.addLinear("\(prefix)\(block).output.dense", out: h, in: intermediateSize, bias: true)
            norm("\(block).output.LayerNorm")
        }
        plan.addLinear("\(prefix)pooler.dense", out: h, in: h, bias: true)
        return plan
    }
}
