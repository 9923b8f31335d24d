import Foundation
import ModelIO
import Models
import PEFT

/// `peftkit inspect`: what a model file contains.
enum InspectCommand {
    /// Every option, declared once.
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "The model file or folder", .text),
        CommandOption("adapter", "DIR", "A PEFT adapter folder: its configuration, target modules, tensors and parameter count", .text),
    ])])

    static var help: String {
        """
        USAGE: peftkit inspect --model PATH
               peftkit inspect --adapter DIR

        Prints the architecture, configuration, and every tensor with its shape and type, then the
        parameter count. PATH is a .gguf file, a .safetensors file, or a Hugging Face folder.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let parsed = try declarations.parse(arguments, command: "inspect")
        if let adapter = parsed.value("adapter") {
            guard parsed.value("model") == nil else { throw UsageError("inspect: give --model or --adapter, not both") }
            return try inspectAdapter(URL(fileURLWithPath: adapter), output: output)
        }
        guard let path = parsed.value("model") else { throw UsageError("inspect: --model or --adapter is required") }
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError.unreadable(path: path, reason: "no such file or folder")
        }
        var lines: [String] = []
        var parameters = 0
        let isGGUF = !isDirectory.boolValue && GGUFFile.hasMagic(url)
        if !isDirectory.boolValue && !isGGUF && url.pathExtension.lowercased() != "safetensors" {
            throw ModelFileError.invalidStructure("\(path) is neither a GGUF file (no GGUF magic) nor a .safetensors file")
        }
        if isGGUF {
            let file = try GGUFFile(contentsOf: url)
            lines.append("format: GGUF v\(file.version), alignment \(file.alignment)")
            lines.append("architecture: \(file.metadata["general.architecture"]?.string ?? "unknown")")
            if let c = try? DecoderConfiguration(gguf: file) { lines.append("configuration: \(c)") }
            lines.append("metadata:")
            for key in file.metadataKeys {
                let value = file.metadata[key]!
                if let items = value.array {
                    // Short arrays are shown (`["en"]`); long ones (vocabularies) by their size.
                    let shown: String? = items.count > 8 ? nil
                        : items.strings.map { "[" + $0.map { "\"\(oneLine($0, limit: 40))\"" }.joined(separator: ", ") + "]" }
                        ?? items.integers.map { "\($0)" }
                    lines.append("  \(key): " + (shown ?? "array of \(items.count)"))
                } else {
                    let text = value.string ?? value.bool.map { "\($0)" } ?? value.integer.map { "\($0)" } ?? value.double.map { "\($0)" } ?? "\(value)"
                    lines.append("  \(key): \(text.count > 120 ? String(text.prefix(117)) + "…" : text)")
                }
            }
            lines.append("tensors (\(file.tensors.count)):")
            for tensor in file.tensors {
                lines.append("  \(tensor.name)  \(Array(tensor.dimensions.reversed()))  \(tensor.type)")
                parameters += tensor.elementCount
            }
        } else {
            var files: [URL] = []
            if isDirectory.boolValue {
                let configURL = url.appendingPathComponent("config.json")
                if let data = FileManager.default.contents(atPath: configURL.path), let json = try? JSONValue.parse(data) {
                    lines.append("architecture: \(json["model_type"]?.string ?? "unknown")")
                    lines.append("config.json: \(json.serialized())")
                    if let c = try? DecoderConfiguration(json: json) { lines.append("configuration: \(c)") }
                }
                files = try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil)
                    .filter { $0.pathExtension == "safetensors" }.sorted { $0.path < $1.path }
                guard !files.isEmpty else {
                    throw ModelFileError.invalidStructure("\(path) holds no .safetensors weights (a model folder has config.json and model.safetensors)")
                }
            } else {
                files = [url]
            }
            for file in files {
                let parsedFile = try SafetensorsFile(contentsOf: file)
                lines.append("\(file.lastPathComponent) (\(parsedFile.tensors.count) tensors):")
                for tensor in parsedFile.tensors {
                    lines.append("  \(tensor.name)  \(tensor.shape)  \(tensor.dtype.rawValue)")
                    parameters += tensor.elementCount
                }
            }
        }
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.locale = Locale(identifier: "en_US")
        lines.append("parameters: \(formatter.string(from: NSNumber(value: parameters)) ?? "\(parameters)")")
        output.standardOutput(lines.joined(separator: "\n") + "\n")
    }

    /// Prints an adapter folder: configuration lines, the modules it adapts, its tensors.
    static func inspectAdapter(_ folder: URL, output: CommandOutput) throws {
        let configuration = try AdapterConfigurations.load(from: folder)
        let url = folder.appendingPathComponent("adapter_model.safetensors")
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch let error as ModelFileError {
            throw PEFTError.file(path: url.path, reason: error.description)
        }
        var lines = ["adapter: \(configuration.peftType.rawValue)"]
        if let members = configuration.json.members {
            for member in members where !member.value.isNull && member.key != "peft_type" {
                lines.append("  \(member.key): \(member.value.serialized())")
            }
        }
        let suffixes = [".lora_A.weight", ".lora_B.weight", ".lora_magnitude_vector", ".ia3_l"]
        let modules = Set(file.tensors.compactMap { tensor in
            suffixes.first { tensor.name.hasSuffix($0) }.map { String(tensor.name.dropLast($0.count).dropFirst("base_model.model.".count)) }
        }).sorted()
        lines.append("adapted modules: \(modules.count)")
        for module in modules.prefix(8) { lines.append("  \(module)") }
        if modules.count > 8 { lines.append("  … \(modules.count - 8) more") }
        var parameters = 0
        lines.append("tensors: \(file.tensors.count)")
        for tensor in file.tensors {
            parameters += tensor.shape.reduce(1, *)
            lines.append("  \(tensor.name) \(tensor.dtype.rawValue) \(tensor.shape)")
        }
        lines.append("parameters: \(parameters)")
        output.standardOutput(lines.joined(separator: "\n") + "\n")
    }
}
