import ModelIO

/// An IA³ configuration with Hugging Face PEFT's JSON keys: learned vectors that rescale the
/// outputs of the targets, or the inputs of those also listed in `feedforward_modules`.
public struct IA3Config: AdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .ia3 }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `target_modules`; nil picks the architecture's default (Llama: `k_proj`, `v_proj`, `down_proj`).
    public var targetModules: TargetModules?
    /// `exclude_modules`.
    public var excludeModules: TargetModules?
    /// `feedforward_modules`: targets whose input (not output) is scaled; nil picks the default.
    public var feedforwardModules: TargetModules?
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]?
    /// `init_ia3_weights`: start at ones (identity) when true, random otherwise.
    public var initializeToIdentity: Bool
    /// `fan_in_fan_out`.
    public var fanInFanOut: Bool
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration; `feedforwardModules` (a subset of the targets) are scaled on their input, the others on their output.
    public init(targetModules: TargetModules? = nil, feedforwardModules: TargetModules? = nil, excludeModules: TargetModules? = nil,
                modulesToSave: [String]? = nil, initializeToIdentity: Bool = true, fanInFanOut: Bool = false,
                taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.targetModules = targetModules
        self.feedforwardModules = feedforwardModules
        self.excludeModules = excludeModules
        self.modulesToSave = modulesToSave
        self.initializeToIdentity = initializeToIdentity
        self.fanInFanOut = fanInFanOut
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        targetModules = try fields.targets("target_modules")
        excludeModules = try fields.targets("exclude_modules")
        feedforwardModules = try fields.targets("feedforward_modules")
        modulesToSave = try fields.strings("modules_to_save")
        initializeToIdentity = try fields.bool("init_ia3_weights", default: true)
        fanInFanOut = try fields.bool("fan_in_fan_out", default: false)
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("target_modules", targetModules)
        writer.set("exclude_modules", excludeModules)
        writer.set("feedforward_modules", feedforwardModules)
        writer.set("modules_to_save", modulesToSave)
        writer.set("init_ia3_weights", initializeToIdentity)
        writer.set("fan_in_fan_out", fanInFanOut)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try targetModules?.validate(field: "target_modules")
        try excludeModules?.validate(field: "exclude_modules")
        try feedforwardModules?.validate(field: "feedforward_modules")
        if case let .names(targets)? = targetModules, case let .names(feedforward)? = feedforwardModules {
            let outside = feedforward.filter { !targets.contains($0) }
            guard outside.isEmpty else {
                throw PEFTError.invalidConfiguration(field: "feedforward_modules", reason: "\(outside) are not in target_modules")
            }
        }
    }

    /// Equal when every field is equal.
    public static func == (lhs: IA3Config, rhs: IA3Config) -> Bool { lhs.json == rhs.json }
}
