import ModelIO

/// A LoHa configuration (low-rank Hadamard product, from LyCORIS) with Hugging Face PEFT's JSON keys.
///
/// `h = W₀x + ΔW·x` with `ΔW = (W1a·W1b) ⊙ (W2a·W2b) · α/r`, where `W1a`, `W2a` are `[out, r]` and
/// `W1b`, `W2b` are `[r, in]`: two rank-r factors whose element-wise product can reach rank r².
/// The settings LyCORIS methods share are read through the configuration (`config.rank`).
public struct LoHaConfig: LycorisConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .loha }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// The shared LyCORIS settings (`r`, `alpha`, dropouts, patterns, targets).
    public var lycoris: LycorisSettings
    /// `init_weights`: true starts `W2b` at zero (the adapted model equals the base); false starts
    /// every factor random.
    public var initializeToIdentity: Bool
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(rank: Int = 8, alpha: Double = 8, rankDropout: Double = 0, moduleDropout: Double = 0, targetModules: TargetModules? = nil,
                initializeToIdentity: Bool = true, modulesToSave: [String]? = nil, taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        lycoris = LycorisSettings(rank: rank, alpha: alpha, rankDropout: rankDropout, moduleDropout: moduleDropout, targetModules: targetModules,
                                  modulesToSave: modulesToSave)
        self.initializeToIdentity = initializeToIdentity
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        lycoris = try LycorisSettings(&fields)
        initializeToIdentity = try fields.bool("init_weights", default: true)
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        lycoris.write(to: &writer)
        writer.set("init_weights", initializeToIdentity)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws { try lycoris.validate() }

    /// Equal when every field is equal.
    public static func == (lhs: LoHaConfig, rhs: LoHaConfig) -> Bool { lhs.json == rhs.json }
}
