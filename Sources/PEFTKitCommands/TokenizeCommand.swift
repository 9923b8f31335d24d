import Foundation
import Tokenizers

/// `peftkit tokenize`: text in, token ids out (one JSON array on standard output).
enum TokenizeCommand {
    /// Every option, declared once.
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "A folder with tokenizer.json (and tokenizer_config.json), a tokenizer.json, or a .gguf file", .text),
        CommandOption("text", "TEXT", "The text to tokenize", .text),
        CommandOption("file", "FILE", "Read the text from a UTF-8 file instead", .text),
        CommandOption("chat", "", "Wrap the text as a user message and apply the model's chat template\n(with the generation prompt)", .flag),
        CommandOption("chat-template", "FILE", ChatTemplateOption.help, .text),
        CommandOption("special", "", "Let special-token text in the input (e.g. <|im_end|>) become special tokens", .flag),
    ])])

    static var help: String {
        """
        USAGE: peftkit tokenize --model PATH (--text TEXT | --file FILE) [--chat [--chat-template FILE]] [--special]

        Prints the token ids of the text as one JSON array.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let parsed = try declarations.parse(arguments, command: "tokenize")
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
