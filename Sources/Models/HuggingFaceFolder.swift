import Foundation
import ModelIO
import NN
import Tokenizers

/// Writes a model as a Hugging Face folder that transformers loads with `from_pretrained`:
/// `model.safetensors` (float32, Hugging Face names), `config.json`, the tokenizer files and
/// `generation_config.json` when the source has one.
///
/// From a Hugging Face source folder, `config.json` and the tokenizer files are copied. From a GGUF
/// file, `config.json` is written from the model's configuration (for its family's transformers class)
/// and the GGUF vocabulary is converted to `tokenizer.json` + `tokenizer_config.json` (chat template and
/// special tokens included) and `generation_config.json` (the ids generation stops at); a GGUF that
/// carries no vocabulary gives no tokenizer files.
public enum HuggingFaceFolder {
    /// Files copied from a Hugging Face source folder when present.
    public static let companionFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                                        "generation_config.json", "vocab.txt", "merges.txt", "vocab.json", "tokenizer.model"]

    /// Writes `model` to `destination`, taking configuration and tokenizer from `source` (the file or
    /// folder the model was loaded from). The folder is assembled under a temporary name beside
    /// `destination` and renamed into place when complete; an existing `destination` is replaced only
    /// when `replacing` is true.
    ///
    /// - Throws: `ModelError.cannotSave` (non-finite weights, an existing destination, a write
    ///   failure; nothing is published), or the tokenizer's error when a GGUF vocabulary cannot be read.
    public static func write(_ model: any CausalLanguageModel, source: URL, to destination: URL, replacing: Bool = false) throws {
        let files = FileManager.default
        if files.fileExists(atPath: destination.path) && !replacing {
            throw ModelError.cannotSave(path: destination.path, reason: "it already exists")
        }
        let tensors = model.stateDictionary()
        if let bad = tensors.first(where: { !$0.value.isFinite }) {
            throw ModelError.cannotSave(path: destination.path, reason: "weight '\(bad.key)' holds non-finite values; nothing was written")
        }
        let partial = FolderPublishing.partialFolder(for: destination)
        do {
            try files.createDirectory(at: partial, withIntermediateDirectories: true)
            let entries = tensors.keys.sorted().map { tensors[$0]!.safetensorsEntry(named: $0) }
            try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: partial.appendingPathComponent("model.safetensors"))
            var isFolder: ObjCBool = false
            if files.fileExists(atPath: source.path, isDirectory: &isFolder), isFolder.boolValue {
                for name in ["config.json"] + companionFiles where name == "config.json" || files.fileExists(atPath: source.appendingPathComponent(name).path) {
                    try AtomicFile.write(try InputFile.read(source.appendingPathComponent(name)), to: partial.appendingPathComponent(name))
                }
            } else {
                guard let llama = model as? DecoderForCausalLM else {
                    throw ModelError.cannotSave(path: destination.path, reason: "only decoder-family models loaded from GGUF can be written as a Hugging Face folder")
                }
                // A GGUF without a vocabulary (tokenizer.ggml.model absent) gives a folder without tokenizer files.
                let tokenizer: Tokenizer?
                do { tokenizer = try Tokenizer.load(from: source) } catch TokenizerError.missingField(field: "tokenizer.ggml.model") { tokenizer = nil }
                let specials = tokenizer?.specialTokens
                let config = llama.configuration.huggingFaceJSON(bosTokenID: specials?.bos?.id, eosTokenID: specials?.eos?.id)
                try AtomicFile.write(Data((config.prettyPrinted() + "\n").utf8), to: partial.appendingPathComponent("config.json"))
                try tokenizer?.saveHuggingFaceFiles(to: partial)
                if let tokenizer {
                    // transformers stops generating at these, as PEFTKit does (eos and the chat format's end of turn).
                    var generation: [(String, JSONValue)] = [("eos_token_id", .array(TextGenerator.endOfSequenceIDs(of: tokenizer).sorted().map { .number(Double($0)) }))]
                    if let bos = specials?.bos?.id { generation.insert(("bos_token_id", .number(Double(bos))), at: 0) }
                    if let pad = specials?.pad?.id { generation.append(("pad_token_id", .number(Double(pad)))) }
                    try AtomicFile.write(Data((JSONValue.object(generation).prettyPrinted() + "\n").utf8), to: partial.appendingPathComponent("generation_config.json"))
                }
            }
            try FolderPublishing.publish(partial, as: destination)
        } catch let error as ModelError {
            try? files.removeItem(at: partial)
            throw error
        } catch let error as TokenizerError {
            try? files.removeItem(at: partial)
            throw error
        } catch let ModelFileError.unwritable(path, reason) {
            try? files.removeItem(at: partial)
            let name = path.hasPrefix(partial.path + "/") ? String(path.dropFirst(partial.path.count + 1)) : path
            throw ModelError.cannotSave(path: destination.path, reason: "\(name) cannot be written (\(reason)); nothing was replaced")
        } catch {
            try? files.removeItem(at: partial)
            throw ModelError.cannotSave(path: destination.path, reason: "\(error); nothing was replaced")
        }
    }
}
