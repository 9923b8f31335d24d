import Autograd
import ModelIO

extension DecoderConfiguration {
    /// The configuration as a Hugging Face `config.json` object for the family's transformers class
    /// (how a model read from a GGUF file is written out as a folder transformers loads).
    public func huggingFaceJSON(bosTokenID: Int?, eosTokenID: Int?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("architectures", .array([.string(family.huggingFaceClass)])),
            ("model_type", .string(family.huggingFaceModelType)),
            ("vocab_size", .number(Double(vocabularySize))),
            ("hidden_size", .number(Double(hiddenSize))),
            ("intermediate_size", .number(Double(intermediateSize))),
            ("num_hidden_layers", .number(Double(layerCount))),
            ("num_attention_heads", .number(Double(attentionHeads))),
            ("num_key_value_heads", .number(Double(keyValueHeads))),
            ("head_dim", .number(Double(headDimension))),
            ("hidden_act", .string(activation.huggingFaceName)),
            ("max_position_embeddings", .number(Double(maxPositionEmbeddings))),
            ("rms_norm_eps", .number(Double(rmsNormEpsilon))),
            ("rope_theta", .number(Double(ropeTheta))),
            ("tie_word_embeddings", .bool(tieWordEmbeddings)),
            ("attention_bias", .bool(attentionBias)),
            ("mlp_bias", .bool(mlpBias)),
            ("torch_dtype", .string("float32")),
        ]
        switch ropeScaling {
        case let .linear(factor)?:
            members.append(("rope_scaling", .object([("rope_type", .string("linear")), ("factor", .number(Double(factor)))])))
        case let .llama3(factor, low, high, original)?:
            members.append(("rope_scaling", .object([("rope_type", .string("llama3")), ("factor", .number(Double(factor))),
                                                     ("low_freq_factor", .number(Double(low))), ("high_freq_factor", .number(Double(high))),
                                                     ("original_max_position_embeddings", .number(Double(original)))])))
        case let .longRoPE(short, long, original, attention)?:
            members.append(("rope_scaling", .object([("rope_type", .string("longrope")),
                                                     ("short_factor", .array(short.map { .number(Double($0)) })),
                                                     ("long_factor", .array(long.map { .number(Double($0)) })),
                                                     ("original_max_position_embeddings", .number(Double(original))),
                                                     ("attention_factor", .number(Double(attention)))])))
            members.append(("original_max_position_embeddings", .number(Double(original))))
        case .divided?, nil:
            break  // per-frequency factors have no config.json form; the folder's rope is the default one
        }
        if let bosTokenID { members.append(("bos_token_id", .number(Double(bosTokenID)))) }
        if let eosTokenID { members.append(("eos_token_id", .number(Double(eosTokenID)))) }
        family.writeJSON(self, &members)
        return .object(members)
    }

    /// `layer_types` and `sliding_window` as a family that slides some layers writes them.
    func slidingMembers() -> [(String, JSONValue)] {
        [("layer_types", .array(layerTypes.map { .string($0.rawValue) })),
         ("sliding_window", slidingWindow.map { .number(Double($0)) } ?? .null)]
    }
}

extension DecoderConfiguration: CustomStringConvertible {
    /// One line for people: the family, sizes, and whatever the family adds (windows, rope bases,
    /// scales, soft-capping, fused projections).
    public var description: String {
        var parts = ["family \(family.name)", "\(layerCount) layers", "hidden \(hiddenSize)", "feed-forward \(intermediateSize) (\(activation.huggingFaceName))",
                     "\(attentionHeads) heads (\(keyValueHeads) key/value) of \(headDimension)", "vocabulary \(vocabularySize)",
                     "context \(maxPositionEmbeddings)", "rope base \(ropeTheta)", "rms eps \(rmsNormEpsilon)"]
        if rotaryDimension != headDimension { parts.append("rotary on \(rotaryDimension) of \(headDimension)") }
        if let ropeScaling { parts.append("rope scaling \(ropeScaling)") }
        let sliding = layerTypes.filter { $0 == .sliding }.count
        if sliding > 0, let slidingWindow {
            parts.append("\(sliding) of \(layerCount) layers slide over \(slidingWindow) positions"
                         + (slidingRopeTheta.map { " (rope base \($0))" } ?? ""))
        }
        if family.normalizesQueriesAndKeys { parts.append("q/k norms") }
        if family.normWeightOffset != 0 { parts.append("norms scale by (\(family.normWeightOffset) + weight)") }
        if family.scalesEmbeddings { parts.append("embeddings × √hidden") }
        if family.fusesProjections { parts.append("fused qkv_proj and gate_up_proj") }
        if let attentionScale { parts.append("attention scale \(attentionScale)") }
        if let finalLogitSoftcap { parts.append("logits soft-capped at \(finalLogitSoftcap)") }
        if attentionBias { parts.append("q/k/v biases") }
        if tieWordEmbeddings { parts.append("tied embeddings") }
        return parts.joined(separator: ", ")
    }
}
