import Foundation
import ModelIO

/// Loads whichever causal language model a path holds, choosing the architecture from its config
/// (transformers' `AutoModelForCausalLM`). The models it returns conform to `CausalLanguageModel`.
public enum AutoModelForCausalLM {
    /// A `.gguf` file (Llama family) or a Hugging Face folder whose `config.json` names `llama`,
    /// `mistral`, `qwen2` or `gpt2`.
    /// - Throws: `ModelError.unsupportedArchitecture` naming the `model_type` for anything else.
    ///
    /// `quantization` chooses how the blocks' linear weights are stored (see `WeightQuantization`;
    /// quantized storage is for the Llama family).
    public static func load(from url: URL, quantization: WeightQuantization = .none) throws -> any CausalLanguageModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelError.file(.unreadable(path: url.path, reason: "no such file or folder"))
        }
        guard isDirectory.boolValue else { return try LlamaForCausalLM.load(from: url, quantization: quantization) }
        let json = try Checkpoint.configuration(in: url)
        let type = json["model_type"]?.string ?? "(missing model_type)"
        switch type {
        case "llama", "mistral", "qwen2": return try LlamaForCausalLM.load(folder: url, quantization: quantization)
        case "gpt2":
            guard case .quantize = quantization else { return try GPT2LMHeadModel.load(folder: url) }
            throw ModelError.invalidConfiguration(field: "quantization", reason: "quantized loading is for the Llama family; GPT-2 loads in float")
        case "bert": throw ModelError.invalidConfiguration(field: "model_type", reason: "'bert' is an encoder, not a causal language model; load it with BertModel")
        default: throw ModelError.unsupportedArchitecture(type)
        }
    }
}

/// The loader's earlier name.
@available(*, deprecated, renamed: "AutoModelForCausalLM")
public typealias CausalLM = AutoModelForCausalLM
