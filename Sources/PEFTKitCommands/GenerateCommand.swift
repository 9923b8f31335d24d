import Foundation
import Models
import Tokenizers

/// `peftkit generate`: stream a model's answer to a prompt.
enum GenerateCommand {
    static let help = """
    USAGE: peftkit generate --model PATH --prompt TEXT [options]

    Streams the model's answer to standard output. The prompt is wrapped in the model's chat
    template (with the default system prompt, if the template has one) unless --raw is given.

    OPTIONS:
      --model PATH                A .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json)
      --prompt TEXT               The user message (or the raw text with --raw)
      --system TEXT               A system message
      --raw                       Do not apply the chat template
      --max-tokens N              Most tokens to generate (default 128)
      --temperature T             0 = greedy (default), otherwise sample at this temperature
      --top-k K                   Sample among the K most likely tokens (default 0 = all)
      --top-p P                   Nucleus sampling threshold in (0, 1] (default 1)
      --repetition-penalty R      > 1 discourages repeating tokens (default 1)
      --seed S                    Sampling seed (default 0)
      --stop TEXT                 Stop when the output contains TEXT (not printed)
      --help                      Show this help

    """

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "generate"
        let parsed = try ParsedArguments(arguments, options: ["model", "prompt", "system", "max-tokens", "temperature", "top-k", "top-p",
                                                              "repetition-penalty", "seed", "stop"],
                                         flags: ["raw"], command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("generate: --model is required") }
        guard let prompt = parsed.value("prompt") else { throw UsageError("generate: --prompt is required") }
        if parsed.has("raw") && parsed.value("system") != nil { throw UsageError("generate: --system cannot be used with --raw") }
        var options = GenerationOptions(
            maxNewTokens: try parsed.integer("max-tokens", command: command, default: 128),
            temperature: try parsed.float("temperature", command: command, default: 0, range: 0...100),
            topK: try parsed.integer("top-k", command: command, default: 0),
            topP: try parsed.float("top-p", command: command, default: 1, range: Float.leastNormalMagnitude...1),
            repetitionPenalty: try parsed.float("repetition-penalty", command: command, default: 1, range: 0.01...100),
            seed: try parsed.unsigned("seed", command: command, default: 0))

        let url = URL(fileURLWithPath: modelPath)
        let tokenizer = try Tokenizer.load(from: url)
        let model = try CausalLM.load(from: url)
        let ids: [Int]
        if parsed.has("raw") {
            ids = tokenizer.encode(prompt)
        } else {
            var messages: [ChatMessage] = []
            if let system = parsed.value("system") { messages.append(.system(system)) }
            messages.append(.user(prompt))
            ids = try tokenizer.encodeChat(messages, addGenerationPrompt: true)
        }
        if let eos = tokenizer.specialTokens.eos?.id { options.stopTokenIDs.insert(eos) }
        if let end = tokenizer.id(for: "<|im_end|>") { options.stopTokenIDs.insert(end) }
        var decoder = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var stream = StopStringFilter(stop: parsed.value("stop"), emit: output.standardOutput)
        try model.generate(prompt: ids, options: options) { id in
            guard let piece = try decoder.step(id) else { return true }
            return stream.feed(piece)
        }
        if !stream.stopped, let rest = try decoder.finish() { _ = stream.feed(rest) }
        stream.flush()
        output.standardOutput("\n")
    }
}

/// Streams text but holds back a possible prefix of the stop string, so the stop string itself is
/// never printed; reports when it has appeared.
struct StopStringFilter {
    let stop: [Character]?
    let emit: (String) -> Void
    private var pending: [Character] = []
    private(set) var stopped = false

    init(stop: String?, emit: @escaping (String) -> Void) {
        self.stop = stop.flatMap { $0.isEmpty ? nil : Array($0) }
        self.emit = emit
    }

    /// Adds text; returns false once the stop string has been seen.
    mutating func feed(_ text: String) -> Bool {
        guard !stopped else { return false }
        guard let stop else { emit(text); return true }
        pending.append(contentsOf: text)
        if let start = firstOccurrence(of: stop, in: pending) {
            emit(String(pending[..<start]))
            pending.removeAll()
            stopped = true
            return false
        }
        // Everything that cannot begin the stop string is safe to print.
        let keep = min(pending.count, stop.count - 1)
        emit(String(pending[..<(pending.count - keep)]))
        pending.removeFirst(pending.count - keep)
        return true
    }

    mutating func flush() {
        if !stopped { emit(String(pending)) }
        pending.removeAll()
    }

    private func firstOccurrence(of needle: [Character], in haystack: [Character]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<(start + needle.count)]) == needle { return start }
        return nil
    }
}
