import ModelIO

extension DecoderFamily {
    /// Mistral: Llama's blocks with sliding-window attention on every layer (`sliding_window`, null
    /// for the later versions that attend fully). Its GGUF files use the `llama` architecture.
    public static let mistral: DecoderFamily = {
        var family = DecoderFamily(name: "mistral", modelTypes: ["mistral"], ggufArchitectures: ["mistral"],
                                   huggingFaceClass: "MistralForCausalLM", huggingFaceModelType: "mistral")
        family.ggufPermutesQueryKey = true
        family.readJSON = { json, configuration in
            configuration.slideEveryLayer(window: try json.configurationInteger("sliding_window", default: 0).nonZero)
        }
        family.writeJSON = { configuration, members in
            members.append(("sliding_window", configuration.slidingWindow.map { .number(Double($0)) } ?? .null))
        }
        return family
    }()
}

extension Int {
    /// Nil for zero (a configuration's "no window"), the value otherwise.
    var nonZero: Int? { self == 0 ? nil : self }
}
