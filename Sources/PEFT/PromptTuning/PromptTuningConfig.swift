import ModelIO

/// How prompt-tuning embeddings start (PEFT's `prompt_tuning_init`).
public enum PromptTuningInitialization: String, Sendable {
    /// Normal(0, 1), like a fresh `nn.Embedding`.
    case random = "RANDOM"
    /// Rows of the model's own token embeddings, sampled.
    case sampleVocabulary = "SAMPLE_VOCAB"
    /// The embeddings of `prompt_tuning_init_text`'s tokens, repeated to fill the virtual tokens.
    case text = "TEXT"
}

/// A prompt-tuning configuration with Hugging Face PEFT's JSON keys: `num_virtual_tokens` learned
/// embeddings prepended to the input embeddings.
public struct PromptTuningConfig: AdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .promptTuning }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `num_virtual_tokens`.
    public var virtualTokenCount: Int
    /// `prompt_tuning_init`.
    public var initialization: PromptTuningInitialization
    /// `prompt_tuning_init_text`.
    public var initializationText: String?
    /// `token_dim` (filled in from the model when attached).
    public var tokenDimension: Int?
    /// `num_transformer_submodules` (1 for decoder-only models).
    public var transformerSubmodules: Int
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]? { nil }
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration of `virtualTokenCount` virtual tokens (TEXT initialisation needs the text's token ids when attaching).
    public init(virtualTokenCount: Int, initialization: PromptTuningInitialization = .random, initializationText: String? = nil,
                taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.virtualTokenCount = virtualTokenCount
        self.initialization = initialization
        self.initializationText = initializationText
        self.transformerSubmodules = 1
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        virtualTokenCount = try fields.integer("num_virtual_tokens", default: 0)
        let initText = try fields.string("prompt_tuning_init") ?? "RANDOM"
        guard let initialization = PromptTuningInitialization(rawValue: initText) else {
            throw PEFTError.invalidConfiguration(field: "prompt_tuning_init", reason: "'\(initText.prefix(40))' is not RANDOM, SAMPLE_VOCAB or TEXT")
        }
        self.initialization = initialization
        initializationText = try fields.string("prompt_tuning_init_text")
        tokenDimension = try fields.value("token_dim").map { value in
            guard let integer = value.integer else { throw PEFTError.invalidConfiguration(field: "token_dim", reason: "must be an integer") }
            return integer
        }
        transformerSubmodules = try fields.integer("num_transformer_submodules", default: 1)
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("num_virtual_tokens", virtualTokenCount)
        writer.set("prompt_tuning_init", initialization.rawValue)
        writer.set("prompt_tuning_init_text", initializationText)
        writer.set("token_dim", tokenDimension.map { .number(Double($0)) } ?? .null)
        writer.set("num_transformer_submodules", transformerSubmodules)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        guard virtualTokenCount > 0 && virtualTokenCount <= 65_536 else {
            throw PEFTError.invalidConfiguration(field: "num_virtual_tokens", reason: "must be in 1...65536, got \(virtualTokenCount)")
        }
        guard transformerSubmodules == 1 else {
            throw PEFTError.invalidConfiguration(field: "num_transformer_submodules", reason: "only decoder-only models (1) are supported")
        }
        if initialization == .text && (initializationText ?? "").isEmpty {
            throw PEFTError.invalidConfiguration(field: "prompt_tuning_init_text", reason: "TEXT initialisation needs a text")
        }
    }

    /// Equal when every field is equal.
    public static func == (lhs: PromptTuningConfig, rhs: PromptTuningConfig) -> Bool { lhs.json == rhs.json }
}
