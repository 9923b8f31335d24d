import Foundation
import ModelIO

/// Loads whichever causal language model a path holds, choosing the architecture from its config
/// (transformers' `AutoModelForCausalLM`). The models it returns conform to `CausalLanguageModel`.
public enum AutoModelForCausalLM {
    /// A `.gguf` file of a decoder family (`DecoderFamily.all`: llama, qwen2, qwen3, gemma3, phi3) or a
    /// Hugging Face folder whose `config.json` names one of theirs (`llama`, `mistral`, `qwen2`,
    /// `qwen3`, `gemma3_text`, `phi3`) or `gpt2`.
    /// - Throws: `ModelError.unsupportedArchitecture` naming the `model_type` for anything else.
    ///
    /// `quantization` chooses how the blocks' linear weights are stored (see `WeightQuantization`;
    /// quantized storage is for the Llama family).
    public static func load(from url: URL, quantization: WeightQuantization = .none) throws -> any CausalLanguageModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelError.file(.unreadable(path: url.path, reason: "no such file or folder"))
        }
        guard isDirectory.boolValue else { return try DecoderForCausalLM.load(from: url, quantization: quantization) }
        let json = try Checkpoint.configuration(in: url)
        let type = json["model_type"]?.string ?? "(missing model_type)"
        if DecoderFamily.forModelType(type) != nil { return try DecoderForCausalLM.load(folder: url, quantization: quantization) }
        switch type {
        case "gpt2":
            guard case .quantize = quantization else { return try GPT2LMHeadModel.load(folder: url) }
            throw ModelError.invalidConfiguration(field: "quantization", reason: "quantized loading is for the decoder families; GPT-2 loads in float")
        case "gemma3": throw ModelError.invalidConfiguration(field: "model_type", reason: "'gemma3' is Gemma 3's multimodal model; its text-only checkpoints (model_type 'gemma3_text', Gemma3ForCausalLM) load")
        case "bert": throw ModelError.invalidConfiguration(field: "model_type", reason: "'bert' is an encoder, not a causal language model; load it with BertModel")
        default: throw ModelError.unsupportedArchitecture(type)
        }
    }
}

/// The loader's earlier name.
@available(*, deprecated, renamed: "AutoModelForCausalLM")
public typealias CausalLM = AutoModelForCausalLM
