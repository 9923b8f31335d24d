import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tokenizers

/// `peftkit merge`: fold an adapter into its base model and write a Hugging Face folder.
enum MergeCommand {
    static let help = """
    USAGE: peftkit merge --model PATH --adapter DIR --output DIR [--overwrite]

    Merges a PEFT adapter (LoRA, rsLoRA, DoRA, IA3) into the base model and writes a Hugging Face
    folder that transformers loads as it would the original: config.json, model.safetensors
    (float32, Hugging Face names) and, from a folder, its tokenizer files and generation_config.json.
    From a .gguf base, config.json is written from the GGUF metadata and tokenizer_config.json carries
    the chat template and special tokens; the GGUF vocabulary itself is not converted to
    tokenizer.json (load the tokenizer from the .gguf with transformers' gguf_file=).
    The folder is written under a temporary name and renamed when complete.

    OPTIONS:
      --model PATH    A .gguf file or a Hugging Face folder (causal language model)
      --adapter DIR   A PEFT adapter folder
      --output DIR    The merged model's folder (must not exist unless --overwrite)
      --overwrite     Replace an existing output folder
      --help          Show this help

    """

    /// Files copied from a Hugging Face source folder when present.
    static let companionFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                                 "generation_config.json", "vocab.txt", "merges.txt", "vocab.json"]

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let parsed = try ParsedArguments(arguments, options: ["model", "adapter", "output"], flags: ["overwrite"], command: "merge")
        guard let modelPath = parsed.value("model") else { throw UsageError("merge: --model is required") }
        guard let adapterPath = parsed.value("adapter") else { throw UsageError("merge: --adapter is required") }
        guard let outputPath = parsed.value("output") else { throw UsageError("merge: --output is required") }
        let files = FileManager.default
        let destination = URL(fileURLWithPath: outputPath)
        if files.fileExists(atPath: destination.path) && !parsed.has("overwrite") {
            throw UsageError("merge: \(outputPath) exists; pass --overwrite to replace it")
        }
        let source = URL(fileURLWithPath: modelPath)
        let base = try CausalLM.load(from: source)
        let peft = try PeftModel.load(base, adapter: URL(fileURLWithPath: adapterPath))
        guard peft.activePromptEmbeddings == nil else {
            throw UsageError("merge: prompt-tuning adapters have nothing to merge into the weights")
        }
        let merged = try peft.mergeAndUnload()
        let tensors = merged.stateDictionary()
        if let bad = tensors.first(where: { !$0.value.isFinite }) {
            throw PEFTError.invalidState("merged weight '\(bad.key)' holds non-finite values; nothing was written")
        }

        let partial = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
        do {
            try files.createDirectory(at: partial, withIntermediateDirectories: true)
            let entries = tensors.keys.sorted().map { SafetensorsWriter.Entry(name: $0, shape: tensors[$0]!.shape, floats: tensors[$0]!.scalars) }
            try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: partial.appendingPathComponent("model.safetensors"))
            var isFolder: ObjCBool = false
            if files.fileExists(atPath: source.path, isDirectory: &isFolder), isFolder.boolValue {
                try files.copyItem(at: source.appendingPathComponent("config.json"), to: partial.appendingPathComponent("config.json"))
                for name in companionFiles where files.fileExists(atPath: source.appendingPathComponent(name).path) {
                    try files.copyItem(at: source.appendingPathComponent(name), to: partial.appendingPathComponent(name))
                }
            } else {
                guard let llama = merged as? LlamaForCausalLM else { throw UsageError("merge: only Llama-family GGUF models are supported") }
                let tokenizer = try Tokenizer.load(from: source)
                let specials = tokenizer.specialTokens
                let config = llama.configuration.huggingFaceJSON(bosTokenID: specials.bos?.id, eosTokenID: specials.eos?.id)
                try Data((config.prettyPrinted() + "\n").utf8).write(to: partial.appendingPathComponent("config.json"), options: .atomic)
                var tokenizerConfig: [(String, JSONValue)] = []
                if let bos = specials.bos { tokenizerConfig.append(("bos_token", .string(bos.token))) }
                if let eos = specials.eos { tokenizerConfig.append(("eos_token", .string(eos.token))) }
                if let pad = specials.pad { tokenizerConfig.append(("pad_token", .string(pad.token))) }
                if let unk = specials.unk { tokenizerConfig.append(("unk_token", .string(unk.token))) }
                if let template = tokenizer.chatTemplate { tokenizerConfig.append(("chat_template", .string(template))) }
                try Data((JSONValue.object(tokenizerConfig).prettyPrinted() + "\n").utf8)
                    .write(to: partial.appendingPathComponent("tokenizer_config.json"), options: .atomic)
            }
            if files.fileExists(atPath: destination.path) {
                let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).replaced-\(UUID().uuidString)")
                try files.moveItem(at: destination, to: old)
                try files.moveItem(at: partial, to: destination)
                try? files.removeItem(at: old)
            } else {
                try files.moveItem(at: partial, to: destination)
            }
        } catch {
            try? files.removeItem(at: partial)
            throw error
        }
        let count = tensors.values.reduce(0) { $0 + $1.count }
        output.standardOutput("merged \(adapterPath) into \(modelPath): \(tensors.count) tensors, \(count) parameters → \(outputPath)\n")
    }
}
