extension DecoderFamily {
    /// Llama (and SmolLM2, and any Llama-shaped decoder): pre-norm blocks, SwiGLU, split-half rotary.
    /// llama.cpp permutes its q/k rows in GGUF files.
    public static let llama: DecoderFamily = {
        var family = DecoderFamily(name: "llama", modelTypes: ["llama"], ggufArchitectures: ["llama"],
                                   huggingFaceClass: "LlamaForCausalLM", huggingFaceModelType: "llama")
        family.ggufPermutesQueryKey = true
        return family
    }()
}
