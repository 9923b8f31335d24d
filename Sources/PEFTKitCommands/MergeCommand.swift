import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tokenizers

/// `peftkit merge`: fold an adapter into its base model and write a Hugging Face folder.
enum MergeCommand {
    /// Every option, declared once.
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "A .gguf file or a Hugging Face folder (causal language model)", .text),
        CommandOption("adapter", "DIR", "A PEFT adapter folder", .text),
        CommandOption("output", "DIR", "The merged model's folder (must not exist unless --overwrite)", .text),
        CommandOption("overwrite", "", """
            Replace an existing output folder that holds a model (config.json and
            model.safetensors); anything else, an input or the current directory is refused
            """, .flag),
    ])])

    static var help: String {
        """
        USAGE: peftkit merge --model PATH --adapter DIR --output DIR [--overwrite]

        Merges a PEFT adapter (any method that changes weights: LoRA, rsLoRA, DoRA, IA3, LoHa, LoKr,
        VeRA, AdaLoRA) into the base model and writes a Hugging Face folder that transformers loads as
        it would the original: config.json, model.safetensors (float32, Hugging Face names) and, from a
        folder, its tokenizer files and generation_config.json. From a .gguf base, config.json is
        written from the GGUF metadata and the GGUF vocabulary is converted to tokenizer.json, with
        tokenizer_config.json carrying the chat template and special tokens.
        The folder is written under a temporary name and renamed when complete.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let parsed = try declarations.parse(arguments, command: "merge")
        guard let modelPath = parsed.value("model") else { throw UsageError("merge: --model is required") }
        try PathChecks.requireModel(modelPath, command: "merge")
        guard let adapterPath = parsed.value("adapter") else { throw UsageError("merge: --adapter is required") }
        guard let outputPath = parsed.value("output") else { throw UsageError("merge: --output is required") }
        let files = FileManager.default
        let destination = try PathChecks.required(outputPath, flag: "output", command: "merge")
        if files.fileExists(atPath: destination.path) && !parsed.has("overwrite") {
            throw UsageError("merge: \(outputPath) exists; pass --overwrite to replace it")
        }
        try PathChecks.refuseOverlap(destination, flag: "output", inputs: [("model", modelPath), ("adapter", adapterPath)], command: "merge")
        try PathChecks.refuseForeignModelFolder(destination, flag: "output", command: "merge")
        // A symbolic link is written through: its target folder is replaced, the link stays.
        let target = destination.resolvingSymlinksInPath()
        let source = URL(fileURLWithPath: modelPath)
        let base = try AutoModelForCausalLM.load(from: source)
        let peft = try PeftModel.load(base, adapter: URL(fileURLWithPath: adapterPath))
        guard peft.activePromptEmbeddings == nil else {
            throw UsageError("merge: prompt-tuning adapters have nothing to merge into the weights")
        }
        let merged = try peft.mergeAndUnload()
        try HuggingFaceFolder.write(merged, source: source, to: target, replacing: true)
        output.standardOutput("merged \(adapterPath) into \(modelPath): \(merged.namedParameters().count) tensors, \(merged.parameterCount) parameters → \(outputPath)\n")
    }
}
