import ModelIO

extension DecoderFamily {
    /// Gemma 3 (text: 270M, 1B; `model_type` `gemma3_text`): RMSNorm scaled by `(1 + weight)`, four
    /// norms per block, per-head q/k norms, embeddings × √hidden, GeGLU (`gelu_pytorch_tanh`),
    /// attention scale `query_pre_attn_scalar^-½`, five sliding layers (rope base 10,000) to every
    /// global one (`rope_theta`, the only layers that take rope scaling), optional final logit
    /// soft-capping, tied head. llama.cpp's converter has already added 1 to every GGUF norm weight.
    public static let gemma3: DecoderFamily = {
        var family = DecoderFamily(name: "gemma3", modelTypes: ["gemma3_text"], ggufArchitectures: ["gemma3"],
                                   huggingFaceClass: "Gemma3ForCausalLM", huggingFaceModelType: "gemma3_text")
        family.normWeightOffset = 1
        family.normPlacement = .aroundSublayers
        family.normalizesQueriesAndKeys = true
        family.scalesEmbeddings = true
        family.defaultActivation = .geluTanh
        family.ggufNormsIncludeOffset = true
        family.ggufNames = ["attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
                            "post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
                            "post_ffw_norm": "post_feedforward_layernorm"]
        family.adapterTargets.ia3 = ["q_proj", "v_proj", "down_proj"]
        family.readJSON = { json, configuration in
            if json["tie_word_embeddings"]?.isNull ?? true { configuration.tieWordEmbeddings = true }
            if let cap = try DecoderConfiguration.number(json, "attn_logit_softcapping") {
                throw ModelError.invalidConfiguration(field: "attn_logit_softcapping", reason: "attention soft-capping (\(cap)) is Gemma 2's and is not supported")
            }
            if let cap = try DecoderConfiguration.number(json, "final_logit_softcapping") { configuration.finalLogitSoftcap = Float(cap) }
            let scalar = try DecoderConfiguration.number(json, "query_pre_attn_scalar") ?? 256
            guard scalar > 0 else { throw ModelError.invalidConfiguration(field: "query_pre_attn_scalar", reason: "must be positive, got \(scalar)") }
            configuration.attentionScale = Float(1 / scalar.squareRoot())
            if configuration.slidingRopeTheta == nil {
                configuration.slidingRopeTheta = Float(try DecoderConfiguration.number(json, "rope_local_base_freq") ?? 10_000)
            }
            configuration.slidingLayersUseRopeScaling = false
            if json["layer_types"].map({ $0.isNull }) ?? true {
                let pattern = try json.configurationInteger("sliding_window_pattern", default: 6)
                guard pattern > 0 else { throw ModelError.invalidConfiguration(field: "sliding_window_pattern", reason: "must be positive, got \(pattern)") }
                configuration.layerTypes = gemmaLayerTypes(count: configuration.layerCount, pattern: pattern)
            }
            if configuration.layerTypes.contains(.sliding) {
                configuration.slidingWindow = try json.configurationInteger("sliding_window", default: 4096)
            }
        }
        family.readGGUF = { keys, configuration in
            configuration.tieWordEmbeddings = true
            // llama.cpp: every sixth layer is global unless the file says otherwise; local layers use rope
            // base 10,000 and no scaling; the score scale is 1/√head_dim (1/√(hidden/heads) for the 62-layer 27B).
            let pattern = try keys.integer("attention.sliding_window_pattern") ?? 6
            guard pattern > 0 else {
                throw ModelError.invalidConfiguration(field: "\(keys.architecture).attention.sliding_window_pattern", reason: "must be positive, got \(pattern)")
            }
            configuration.layerTypes = gemmaLayerTypes(count: configuration.layerCount, pattern: pattern)
            configuration.slidingWindow = try keys.integer("attention.sliding_window") ?? 4096
            configuration.slidingRopeTheta = 10_000
            configuration.slidingLayersUseRopeScaling = false
            configuration.activation = .geluTanh
            let scalar = configuration.layerCount == 62 ? configuration.hiddenSize / configuration.attentionHeads : configuration.headDimension
            configuration.attentionScale = 1 / Float(scalar).squareRoot()
        }
        family.writeJSON = { configuration, members in
            members.removeAll { ["hidden_act", "rope_scaling"].contains($0.0) }
            members.append(("hidden_activation", .string(configuration.activation.huggingFaceName)))
            members += configuration.slidingMembers()
            members.append(("rope_local_base_freq", .number(Double(configuration.slidingRopeTheta ?? 10_000))))
            let scale = Double(configuration.scoreScale)
            members.append(("query_pre_attn_scalar", .number((1 / (scale * scale)).rounded())))
            members.append(("final_logit_softcapping", configuration.finalLogitSoftcap.map { .number(Double($0)) } ?? .null))
            members.append(("attn_logit_softcapping", .null))
            if case let .linear(factor)? = configuration.ropeScaling {
                members.append(("rope_scaling", .object([("rope_type", .string("linear")), ("factor", .number(Double(factor)))])))
            }
        }
        return family
    }()

    /// Gemma's default layer kinds: layer i slides unless (i + 1) is a multiple of `pattern`.
    static func gemmaLayerTypes(count: Int, pattern: Int) -> [DecoderConfiguration.AttentionKind] {
        (0..<count).map { ($0 + 1) % pattern == 0 ? .full : .sliding }
    }
}
