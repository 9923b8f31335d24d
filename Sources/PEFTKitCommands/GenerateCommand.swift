import Autograd
import Foundation
import Models
import PEFT
import Tokenizers

/// `peftkit generate`: stream a model's answer to a prompt.
enum GenerateCommand {
    static let help = """
    USAGE: peftkit generate --model PATH --prompt TEXT [options]

    Streams the model's answer to standard output. The prompt is wrapped in the model's chat
    template (with the default system prompt, if the template has one) unless --raw is given.

    OPTIONS:
      --model PATH                A .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json)
      --adapter DIR               A PEFT adapter folder (LoRA, DoRA, IA3, prompt tuning) applied to the model (merged for speed;
                                  on a packed base it stays beside it unless --requantize)
      --requantize                Merge the adapter into a packed base by re-quantizing the merged weights,
                                  and print the error that introduces (measured against the exact merge)
      --prompt TEXT               The user message (or the raw text with --raw)
      --system TEXT               A system message
      --chat-template FILE        A Jinja chat template file that replaces the model's own template
      --raw                       Do not apply the chat template
      --max-tokens N              Most tokens to generate (default 128)
      --temperature T             0 = greedy (default), otherwise sample at this temperature
      --top-k K                   Sample among the K most likely tokens (default 0 = all)
      --top-p P                   Nucleus sampling threshold in (0, 1] (default 1)
      --repetition-penalty R      > 1 discourages repeating tokens (default 1)
      --seed S                    Sampling seed (default 0)
      --quantization NAME         float (default), gguf (keep a GGUF's quantized blocks packed), q8_0, q4_1 or nf4
      --exact-decode              With packed Q8_0/Q4_0/Q4_1 weights, multiply each new token in float (equal to the
                                  dequantized model) instead of with integer activations (faster; llama.cpp's way)
      --stop TEXT                 Stop when the output contains TEXT (not printed)
      --help                      Show this help

    """

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "generate"
        let parsed = try ParsedArguments(arguments, options: ["model", "adapter", "prompt", "system", "chat-template", "max-tokens", "temperature", "top-k", "top-p",
                                                              "repetition-penalty", "seed", "stop", "quantization"],
                                         flags: ["raw", "requantize", "exact-decode"], command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("generate: --model is required") }
        guard let prompt = parsed.value("prompt") else { throw UsageError("generate: --prompt is required") }
        if parsed.has("raw") && parsed.value("system") != nil { throw UsageError("generate: --system cannot be used with --raw") }
        if parsed.has("requantize") && parsed.value("adapter") == nil { throw UsageError("generate: --requantize needs --adapter (it merges an adapter into a packed base)") }
        let options = GenerationOptions(
            maxNewTokens: try parsed.integer("max-tokens", command: command, default: 128, maximum: 1 << 20),
            temperature: try parsed.float("temperature", command: command, default: 0, range: 0...100),
            topK: try parsed.integer("top-k", command: command, default: 0),
            topP: try parsed.float("top-p", command: command, default: 1, range: Float.leastNormalMagnitude...1),
            repetitionPenalty: try parsed.float("repetition-penalty", command: command, default: 1, range: 0.01...100),
            seed: try parsed.unsigned("seed", command: command, default: 0),
            packedDecode: parsed.has("exact-decode") ? .exact : .integerActivations)

        try PathChecks.requireModel(modelPath, command: command)
        let url = URL(fileURLWithPath: modelPath)
        let quantization = try TrainingSetup.quantization(parsed, command: command)
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

