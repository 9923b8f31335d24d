import Foundation
import ModelIO

/// An adapter configuration whose JSON is Hugging Face PEFT's `adapter_config.json`.
///
/// Each method's configuration reads and writes the same keys PEFT does; keys it does not know are
/// kept and written back unchanged. `Codable` goes through the same JSON form.
public protocol AdapterConfiguration: Codable, Sendable {
    /// The method (`peft_type`).
    var peftType: PeftType { get }
    /// `task_type`, e.g. `CAUSAL_LM` or `SEQ_CLS` (nil when unset).
    var taskType: String? { get set }
    /// `base_model_name_or_path`: where the base model came from (informational).
    var baseModelNameOrPath: String? { get set }
    /// `inference_mode`: true when the adapter was saved for inference only.
    var inferenceMode: Bool { get set }
    /// Names (or `.`-suffixes) of modules trained in full and saved with the adapter (`modules_to_save`).
    var modulesToSave: [String]? { get }
    /// Reads the configuration from its JSON object.
    init(json: JSONValue) throws
    /// The JSON object (PEFT's keys plus any unknown keys read from a file).
    var json: JSONValue { get }
    /// Checks every value; throws `PEFTError.invalidConfiguration` naming the field.
    func validate() throws
    /// Keys of `adapter_config.json` that training itself changes (AdaLoRA's `rank_pattern`): they
    /// describe what was learned, not the function to train, so a resumed run does not compare them.
    static var learnedKeys: Set<String> { get }
}

extension AdapterConfiguration {
    /// None.
    public static var learnedKeys: Set<String> { [] }

    /// Decodes the `adapter_config.json` object.
    public init(from decoder: Decoder) throws { try self.init(json: try JSONValue(from: decoder)) }
    /// Encodes the `adapter_config.json` object.
    public func encode(to encoder: Encoder) throws { try json.encode(to: encoder) }

    /// The `adapter_config.json` text: keys sorted, indented by two spaces, as PEFT writes it.
    public var fileText: String { json.prettyPrinted(indent: 2, sortKeys: true) }
}

/// Reading any method's configuration.
public enum AdapterConfigurations {
    /// Parses `adapter_config.json` text and builds the configuration its `peft_type` names (through
    /// the registry, `AdapterMethods`).
    public static func parse(_ data: Data, path: String = "adapter_config.json") throws -> any AdapterConfiguration {
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw PEFTError.file(path: path, reason: "\(error)") }
        guard json.members != nil else {
            throw PEFTError.file(path: path, reason: "must hold a JSON object of settings, found \(json.kindName)")
        }
        guard let type = json["peft_type"]?.string else {
            let state = json["peft_type"] == nil ? "missing" : json["peft_type"]!.isNull ? "null" : "not a string"
            throw PEFTError.invalidConfiguration(field: "peft_type", reason: "\(state) (expected one of \(AdapterMethods.supportedTypes.joined(separator: ", ")))")
        }
        guard let method = AdapterMethods.method(PeftType(rawValue: type)) else { throw PEFTError.unsupportedMethod(String(type.prefix(64))) }
        let configuration = try method.readConfiguration(json)
        try configuration.validate()
        return configuration
    }

    /// Reads `<folder>/adapter_config.json`.
    public static func load(from folder: URL) throws -> any AdapterConfiguration {
        let url = folder.appendingPathComponent("adapter_config.json")
        let data: Data
        do { data = try InputFile.read(url) } catch let ModelFileError.unreadable(_, reason) {
            throw PEFTError.file(path: url.path, reason: FileManager.default.fileExists(atPath: url.path) ? reason : "no adapter_config.json in the adapter folder")
        }
        return try parse(data, path: url.path)
    }
}
