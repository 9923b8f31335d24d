import Foundation
import ModelIO
import Models
import PEFT

/// `peftkit export`: an adapter in the form llama.cpp and Ollama load.
enum ExportCommand {
    /// Every option, declared once.
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "The base: a .gguf file (needed for --format gguf) or a Hugging Face folder", .text),
        CommandOption("adapter", "DIR", "A PEFT adapter folder", .text),
        CommandOption("output", "FILE", "The .gguf file to write (replaced atomically)", .text),
        CommandOption("format", "NAME", """
            gguf-lora: the adapter as llama.cpp's LoRA GGUF (llama-cli --lora, Ollama ADAPTER);
            gguf: the whole model with the adapter merged, tokenizer and settings copied from --model
            """, .choice(default: "gguf-lora", among: ["gguf-lora", "gguf"])),
        CommandOption("type", "NAME", """
            Encoding of the written weights: f32 or f16 (gguf-lora); f32, f16 or q8_0 (gguf: the
            merged weights; the base's other tensors keep their encoding)
            """, .choice(default: "f16", among: ["f32", "f16", "q8_0"])),
        CommandOption("all-tensors", "", """
            With --format gguf, re-encode every weight in --type, not only the changed ones (an f32 file
            of a quantized base, say); without --adapter, the base alone
            """, .flag),
    ])])

    static var help: String {
        """
        USAGE: peftkit export --model PATH --adapter DIR --output FILE [--format gguf-lora|gguf] [--type f32|f16|q8_0]

        Writes a PEFT adapter for llama.cpp and Ollama. gguf-lora keeps it an adapter: LoRA and
        rsLoRA (rank and alpha patterns folded in), named after the base's GGUF tensors, with llama's
        q/k row order. Methods llama.cpp cannot apply (DoRA, IA3, LoHa, LoKr, VeRA, AdaLoRA, LoRA on
        embeddings, modules_to_save) are refused: export them merged with --format gguf, which needs
        a .gguf base and prints the largest error the encoding made.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "export"
        let declared = declarations
        let parsed = try declared.parse(arguments, command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("export: --model is required") }
        try PathChecks.requireModel(modelPath, command: command)
        let adapterPath = parsed.value("adapter")
        if let adapterPath { try PathChecks.requireInput(adapterPath, flag: "adapter", folder: true, command: command) }
        guard let outputPath = parsed.value("output") else { throw UsageError("export: --output is required") }
        let destination = try PathChecks.required(outputPath, flag: "output", command: command)
        try PathChecks.refuseOverlap(destination, flag: "output", inputs: [("model", modelPath)] + (adapterPath.map { [("adapter", $0)] } ?? []),
                                      command: command)
        try PathChecks.refuseFolder(destination, flag: "output", command: command)
        let format = try parsed.choice(declared["format"], command: command)
        let type = try parsed.choice(declared["type"], command: command)
        let modelURL = URL(fileURLWithPath: modelPath)
        guard adapterPath != nil || (format == "gguf" && parsed.has("all-tensors")) else {
            throw UsageError("export: --adapter is required (only --format gguf --all-tensors writes the base alone)")
        }
        if format == "gguf-lora", let adapterPath {
            guard type != "q8_0" else { throw UsageError("export: a gguf-lora adapter is written as f32 or f16") }
            let peft = try PeftModel.load(try AutoModelForCausalLM.load(from: modelURL), adapter: URL(fileURLWithPath: adapterPath))
            try LlamaCppAdapter.write(peft, to: destination, tensorType: type == "f32" ? .f32 : .f16)
            output.standardOutput("wrote \(destination.path): llama.cpp LoRA adapter (\(type)); use it with llama-cli -m \(modelPath) --lora \(destination.path)\n")
            return
        }
        guard GGUFFile.hasMagic(modelURL) else {
            throw UsageError("export: --format gguf copies the tokenizer and settings of a .gguf base; for a Hugging Face folder, run peftkit merge and convert the folder with llama.cpp's convert_hf_to_gguf.py")
        }
        let base = try GGUFFile(contentsOf: modelURL)
        let model = try AutoModelForCausalLM.load(from: modelURL)
        let encoding = MergedGGUF.Encoding(rawValue: type)!
        let report: MergedGGUF.Report
        if let adapterPath {
            let peft = try PeftModel.load(model, adapter: URL(fileURLWithPath: adapterPath))
            report = try MergedGGUF.write(peft, base: base, to: destination, encoding: encoding, allTensors: parsed.has("all-tensors"))
        } else {
            guard let decoder = model as? DecoderForCausalLM else { throw UsageError("export: \(modelPath) is not a decoder model") }
            report = try MergedGGUF.write(decoder, base: base, to: destination, encoding: encoding)
        }
        output.standardOutput("wrote \(destination.path): \(adapterPath == nil ? "the model" : "merged model"), \(report.tensors.count) weights "
                              + "re-encoded as \(type) (largest error \(String(format: "%.3g", report.maxError))); use it with llama-cli -m \(destination.path)\n")
    }
}
