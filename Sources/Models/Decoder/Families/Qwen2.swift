import ModelIO

extension DecoderFamily {
    /// Qwen2 / Qwen2.5: Llama's blocks with biases on q/k/v; sliding windows only with
    /// `use_sliding_window` (layers from `max_window_layers` on), or as `layer_types` lists them.
    public static let qwen2: DecoderFamily = {
        var family = DecoderFamily(name: "qwen2", modelTypes: ["qwen2"], ggufArchitectures: ["qwen2"],
                                   huggingFaceClass: "Qwen2ForCausalLM", huggingFaceModelType: "qwen2")
        family.defaultAttentionBias = true
        family.adapterTargets.ia3 = ["q_proj", "v_proj", "down_proj"]
        family.readJSON = readQwenSlidingLayers
        family.writeJSON = writeQwenSlidingLayers
        return family
    }()

    /// Qwen's sliding-window keys: `use_sliding_window`, `sliding_window`, `max_window_layers`, and
    /// `layer_types` when the file lists them (already read into the configuration).
    static let readQwenSlidingLayers: @Sendable (JSONValue, inout DecoderConfiguration) throws -> Void = { json, configuration in
        let listed = json["layer_types"].map { !$0.isNull } ?? false
        let enabled = try DecoderConfiguration.flag(json, "use_sliding_window") ?? false
        guard enabled || listed else { return }
        if !listed {
            let first = try json.configurationInteger("max_window_layers", default: configuration.layerCount)
            configuration.layerTypes = (0..<configuration.layerCount).map { $0 >= first ? .sliding : .full }
        }
        if configuration.layerTypes.contains(.sliding) {
            configuration.slidingWindow = try json.configurationInteger("sliding_window")
        }
    }

    /// Writes Qwen's sliding-window keys back.
    static let writeQwenSlidingLayers: @Sendable (DecoderConfiguration, inout [(String, JSONValue)]) -> Void = { configuration, members in
        let slides = configuration.layerTypes.contains(.sliding)
        members.append(("use_sliding_window", .bool(slides)))
        if slides { members += configuration.slidingMembers() }
    }
}
