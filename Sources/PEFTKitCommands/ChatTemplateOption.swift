import Foundation
import ModelIO
import Tokenizers

/// `--chat-template FILE`: a Jinja chat template that replaces the model's own (or gives one to a
/// model file without, such as the Gemma 3 GGUFs; those get their family's built-in template otherwise).
enum ChatTemplateOption {
    /// The help line shared by the commands that take the option.
    static let help = "A Jinja chat template file that replaces the model's own template"

    /// The model's tokenizer, with the template of `--chat-template` when given.
    static func tokenizer(for model: URL, _ parsed: ParsedArguments, command: String) throws -> Tokenizer {
        let tokenizer = try Tokenizer.load(from: model)
        guard let path = parsed.value("chat-template") else { return tokenizer }
        guard !path.isEmpty else { throw UsageError("\(command): --chat-template needs a file path") }
        let data: Data
        do { data = try InputFile.read(URL(fileURLWithPath: path)) } catch let ModelFileError.unreadable(_, reason) {
            throw UsageError("\(command): cannot read --chat-template \(path): \(reason)")
        }
        guard let source = String(data: data, encoding: .utf8) else { throw UsageError("\(command): --chat-template \(path) is not UTF-8 text") }
        do { _ = try ChatTemplate(source) } catch {
            throw UsageError("\(command): --chat-template \(path): \(error)")
        }
        return tokenizer.replacingChatTemplate(source)
    }
}
