import Autograd
import Foundation
import Models
import PEFT
import Tokenizers

/// `peftkit generate`: stream a model's answer to a prompt.
enum GenerateCommand {
    /// Every option, declared once (help, parser, defaults and ranges).
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "A .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json)", .text),
        CommandOption("adapter", "DIR", """
            A PEFT adapter folder (any method peftkit train --help lists) applied to the model (merged for
            speed; on a packed base it stays beside it unless --requantize)
            """, .text),
        CommandOption("requantize", "", """
            Merge the adapter into a packed base by re-quantizing the merged weights,
            and print the error that introduces (measured against the exact merge)
            """, .flag),
        CommandOption("prompt", "TEXT", "The user message (or the raw text with --raw)", .text),
        CommandOption("system", "TEXT", "A system message", .text),
        CommandOption("chat-template", "FILE", ChatTemplateOption.help, .text),
        CommandOption("raw", "", "Do not apply the chat template", .flag),
        CommandOption("max-tokens", "N", "Most tokens to generate", .integer(default: 128, range: 0...(1 << 20))),
        CommandOption("temperature", "T", "0 = greedy, otherwise sample at this temperature", .number(default: 0, range: 0...100)),
        CommandOption("top-k", "K", "Sample among the K most likely tokens (0 = all)", .integer(default: 0, range: 0...Int.max)),
        CommandOption("top-p", "P", "Nucleus sampling threshold in (0, 1]", .number(default: 1, range: Double(Float.leastNormalMagnitude)...1)),
        CommandOption("repetition-penalty", "R", "> 1 discourages repeating tokens", .number(default: 1, range: 0.01...100)),
        CommandOption("seed", "S", "Sampling seed", .unsigned(default: 0)),
        CommandOption("quantization", "NAME", "float, gguf (keep a GGUF's quantized blocks packed), q8_0, q4_1 or nf4",
                      .choice(default: "float", among: WeightQuantization.names)),
        CommandOption("exact-decode", "", """
            With packed GGUF weights, multiply each new token in float (equal to the
            dequantized model) instead of with integer activations (faster; llama.cpp's way)
            """, .flag),
        CommandOption("stop", "TEXT", "Stop when the output contains TEXT (not printed)", .text),
    ])])

    static var help: String {
        """
        USAGE: peftkit generate --model PATH --prompt TEXT [options]

        Streams the model's answer to standard output. The prompt is wrapped in the model's chat
        template (with the default system prompt, if the template has one) unless --raw is given.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "generate"
        let declared = declarations
        let parsed = try declared.parse(arguments, command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("generate: --model is required") }
        guard let prompt = parsed.value("prompt") else { throw UsageError("generate: --prompt is required") }
        if parsed.has("raw") && parsed.value("system") != nil { throw UsageError("generate: --system cannot be used with --raw") }
        if parsed.has("requantize") && parsed.value("adapter") == nil { throw UsageError("generate: --requantize needs --adapter (it merges an adapter into a packed base)") }
        let options = GenerationOptions(
            maxNewTokens: try parsed.integer(declared["max-tokens"], command: command)!,
            temperature: Float(try parsed.number(declared["temperature"], command: command)!),
            topK: try parsed.integer(declared["top-k"], command: command)!,
            topP: Float(try parsed.number(declared["top-p"], command: command)!),
            repetitionPenalty: Float(try parsed.number(declared["repetition-penalty"], command: command)!),
            seed: try parsed.unsigned(declared["seed"], command: command),
            packedDecode: parsed.has("exact-decode") ? .exact : .integerActivations)

        try PathChecks.requireModel(modelPath, command: command)
        let url = URL(fileURLWithPath: modelPath)
        let quantization = WeightQuantization(name: try parsed.choice(declared["quantization"], command: command))!
        var model = try AutoModelForCausalLM.load(from: url, quantization: quantization)
        var prefix: Variable? = nil
        if let adapter = parsed.value("adapter") {
            let peft = try PeftModel.load(model, adapter: URL(fileURLWithPath: adapter))
            for notice in peft.notices { output.standardError("generate: warning: \(notice)\n") }
            // A prompt-tuning adapter's virtual tokens run before the prompt; nothing merges.
            prefix = peft.activePromptEmbeddings
            if prefix != nil && parsed.has("requantize") { throw UsageError("generate: --requantize merges LoRA-like adapters; a prompt-tuning adapter has nothing to merge") }
            // A packed base keeps the adapter beside it (merging would re-quantize) unless --requantize
            // asks for that, with the error it introduces measured; a float base merges exactly.
            if prefix != nil {
                // The virtual tokens are passed to the generator below.
            } else if model.namedPackedParameters().isEmpty {
                model = try peft.mergeAndUnload()
            } else if parsed.has("requantize") {
                let (merged, reports) = try peft.mergeAndUnloadRequantizing()
                model = merged
                output.standardError("generate: warning: \(RequantizationReport.summary(reports))\n")
            }
        }
        let generator = try TextGenerator(model: model, tokenizer: try ChatTemplateOption.tokenizer(for: url, parsed, command: command), prefix: prefix)
        let stops = parsed.value("stop").map { [$0] } ?? []
        if parsed.has("raw") {
            try generator.generate(prompt: try generator.tokenizer.encode(prompt), options: options, stopStrings: stops,
                                   onText: output.standardOutput)
        } else {
            var messages: [ChatMessage] = []
            if let system = parsed.value("system") { messages.append(.system(system)) }
            messages.append(.user(prompt))
            try generator.chat(messages, options: options, stopStrings: stops, onText: output.standardOutput)
        }
        output.standardOutput("\n")
    }
}

