extension DecoderFamily {
    /// Qwen3: Qwen2's blocks without q/k/v biases, with per-head q/k RMSNorm (plain weight) before
    /// rotary and an explicit `head_dim` (the query width need not equal the hidden size).
    public static let qwen3: DecoderFamily = {
        var family = DecoderFamily(name: "qwen3", modelTypes: ["qwen3"], ggufArchitectures: ["qwen3"],
                                   huggingFaceClass: "Qwen3ForCausalLM", huggingFaceModelType: "qwen3")
        family.normalizesQueriesAndKeys = true
        family.ggufNames["attn_q_norm"] = "self_attn.q_norm"
        family.ggufNames["attn_k_norm"] = "self_attn.k_norm"
        family.adapterTargets.ia3 = ["q_proj", "v_proj", "down_proj"]
        family.readJSON = readQwenSlidingLayers
        family.writeJSON = writeQwenSlidingLayers
        return family
    }()
}
