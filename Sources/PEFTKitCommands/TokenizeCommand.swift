import Foundation
import Tokenizers

/// `peftkit tokenize`: text in, token ids out (one JSON array on standard output).
enum TokenizeCommand {
    static let help = """
    USAGE: peftkit tokenize --model PATH (--text TEXT | --file FILE) [--chat [--chat-template FILE]] [--special]

    Prints the token ids of the text as one JSON array.

    OPTIONS:
      --model PATH   A folder with tokenizer.json (and tokenizer_config.json), a tokenizer.json, or a .gguf file
      --text TEXT    The text to tokenize
      --file FILE    Read the text from a UTF-8 file instead
      --chat         Wrap the text as a user message and apply the model's chat template
                     (with the generation prompt)
      --chat-template FILE  A Jinja chat template file that replaces the model's own template
      --special      Let special-token text in the input (e.g. <|im_end|>) become special tokens
      --help         Show this help

    """

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let parsed = try ParsedArguments(arguments, options: ["model", "text", "file", "chat-template"], flags: ["chat", "special"], command: "tokenize")
        guard let model = parsed.value("model") else { throw UsageError("tokenize: --model is required") }
        let text: String
        switch (parsed.value("text"), parsed.value("file")) {
        case let (inline?, nil):
            text = inline
        case let (nil, path?):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TokenizerError.unreadableFile(path: path, reason: "no such file or not readable")
            }
            guard let decoded = String(validating: data, as: UTF8.self) else { throw TokenizerError.invalidUTF8(context: path) }
            text = decoded
        case (nil, nil):
            throw UsageError("tokenize: give the text with --text or --file")
        case (_?, _?):
            throw UsageError("tokenize: --text and --file cannot be combined")
        }
        let tokenizer = try ChatTemplateOption.tokenizer(for: URL(fileURLWithPath: model), parsed, command: "tokenize")
        let ids: [Int]
        if parsed.has("chat") {
            let prompt = try tokenizer.applyChatTemplate([.user(text)], addGenerationPrompt: true)
            ids = try tokenizer.encodeChat(prompt: prompt, userContents: [text], parseSpecialTokensInContent: parsed.has("special"))
        } else {
            ids = try tokenizer.encode(text, addSpecialTokens: true, parseSpecialTokens: parsed.has("special"))
        }
        output.standardOutput("[" + ids.map(String.init).joined(separator: ", ") + "]\n")
    }
}
