import ModelIO

extension DecoderFamily {
    /// Phi-3 and Phi-4-mini: fused `qkv_proj` ([q | k | v] rows) and `gate_up_proj` ([gate | up]),
    /// partial rotary (`partial_rotary_factor`), a sliding window on every layer when
    /// `sliding_window` is set. PEFT targets the fused `qkv_proj` by default.
    public static let phi3: DecoderFamily = {
        var family = DecoderFamily(name: "phi3", modelTypes: ["phi3"], ggufArchitectures: ["phi3"],
                                   huggingFaceClass: "Phi3ForCausalLM", huggingFaceModelType: "phi3")
        family.fusesProjections = true
        family.ggufNames["attn_qkv"] = "self_attn.qkv_proj"
        family.ggufNames["ffn_up"] = "mlp.gate_up_proj"
        family.adapterTargets.lowRank = ["qkv_proj"]  // PEFT has no default for phi3; the fused attention input is its q_proj/v_proj
        family.adapterTargets.ia3 = ["qkv_proj", "down_proj"]
        family.adapterTargets.ia3Feedforward = ["down_proj"]
        family.readJSON = { json, configuration in
            let nested = json["rope_parameters"].flatMap { $0.isNull ? nil : $0 }
            if let factor = try DecoderConfiguration.number(json, "partial_rotary_factor") ?? nested.flatMap({ try DecoderConfiguration.number($0, "partial_rotary_factor") }) {
                guard factor > 0 && factor <= 1 else {
                    throw ModelError.invalidConfiguration(field: "partial_rotary_factor", reason: "must be in (0, 1], got \(factor)")
                }
                configuration.rotaryDimension = Int(Double(configuration.headDimension) * factor)
            }
            configuration.slideEveryLayer(window: try json.configurationInteger("sliding_window", default: 0).nonZero)
        }
        family.readGGUF = { keys, configuration in
            configuration.slideEveryLayer(window: try keys.integer("attention.sliding_window"))
        }
        family.writeJSON = { configuration, members in
            members.append(("partial_rotary_factor", .number(Double(configuration.rotaryDimension) / Double(configuration.headDimension))))
            members.append(("sliding_window", configuration.slidingWindow.map { .number(Double($0)) } ?? .null))
        }
        return family
    }()
}
