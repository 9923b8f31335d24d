import ModelIO

/// Which base-model biases train with a VeRA adapter (PEFT's `bias`).
public enum VeRABias: String, Sendable {
    /// No bias trains.
    case none
    /// Every bias of the model trains.
    case all
    /// Only the biases of the layers VeRA wraps train.
    case veraOnly = "vera_only"
}

extension VeRABias {
    /// The biases this mode trains.
    var trained: TrainedBiases {
        switch self {
        case .none: .none
        case .veraOnly: .adaptedLayers
        case .all: .all
        }
    }
}

/// A VeRA configuration (vector-based random matrix adaptation) with Hugging Face PEFT's JSON keys.
///
/// `h = W₀x + Λb·B·Λd·A·dropout(x)`: `A: [r, in]` and `B: [out, r]` are frozen random matrices shared
/// by every layer (drawn from `projection_prng_key` exactly as PEFT draws them, and saved with the
/// adapter when `save_projection`), and only the vectors `Λd: [r]` and `Λb: [out]` train.
public struct VeRAConfig: LayerAdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .vera }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `r`: the shared projections' rank (PEFT's default 256: VeRA's vectors are cheap, its rank is not).
    public var rank: Int
    /// `target_modules`; nil picks the architecture's default (`q_proj`/`v_proj` for Llama).
    public var targetModules: TargetModules?
    /// VeRA's configuration has no `exclude_modules`.
    public var excludeModules: TargetModules? { nil }
    /// `projection_prng_key`: the seed of the shared projections.
    public var projectionSeed: UInt64
    /// `save_projection`: write the projections into the adapter file (otherwise they are drawn
    /// again from the seed when loading).
    public var saveProjection: Bool
    /// `vera_dropout`: dropout probability on the adapter input, in [0, 1).
    public var dropout: Double
    /// `d_initial`: the starting value of every element of `Λd`.
    public var initialD: Double
    /// `fan_in_fan_out`: the targets store their weight `[in, out]` (GPT-2's `Conv1D`); set
    /// automatically when such a layer is wrapped.
    public var fanInFanOut: Bool
    /// `bias`.
    public var bias: VeRABias
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]?
    /// `init_weights`: true starts `Λb` at zero and `Λd` at `d_initial` (the adapted model equals the
    /// base); false leaves `Λb` at one and `Λd` normal (for tests).
    public var initializeToIdentity: Bool
    /// `layers_to_transform`: only layers with these indices are wrapped.
    public var layersToTransform: [Int]?
    /// `layers_pattern`: the layer list whose index `layers_to_transform` reads.
    public var layersPattern: [String]?
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(rank: Int = 256, targetModules: TargetModules? = nil, projectionSeed: UInt64 = 0, saveProjection: Bool = true,
                dropout: Double = 0, initialD: Double = 0.1, bias: VeRABias = .none, modulesToSave: [String]? = nil,
                initializeToIdentity: Bool = true, taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil,
                inferenceMode: Bool = false) {
        self.rank = rank
        self.targetModules = targetModules
        self.projectionSeed = projectionSeed
        self.saveProjection = saveProjection
        self.dropout = dropout
        self.initialD = initialD
        self.fanInFanOut = false
        self.bias = bias
        self.modulesToSave = modulesToSave
        self.initializeToIdentity = initializeToIdentity
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        rank = try fields.integer("r", default: 256)
        targetModules = try fields.targets("target_modules")
        let seed = try fields.integer("projection_prng_key", default: 0)
        guard seed >= 0 else { throw PEFTError.invalidConfiguration(field: "projection_prng_key", reason: "must be a non-negative integer, got \(seed)") }
        projectionSeed = UInt64(seed)
        saveProjection = try fields.bool("save_projection", default: true)
        dropout = try fields.number("vera_dropout", default: 0)
        initialD = try fields.number("d_initial", default: 0.1)
        fanInFanOut = try fields.bool("fan_in_fan_out", default: false)
        let biasText = try fields.string("bias") ?? "none"
        guard let bias = VeRABias(rawValue: biasText) else {
            throw PEFTError.invalidConfiguration(field: "bias", reason: "'\(biasText.prefix(40))' is not none, all or vera_only")
        }
        self.bias = bias
        modulesToSave = try fields.strings("modules_to_save")
        initializeToIdentity = try fields.bool("init_weights", default: true)
        layersToTransform = try fields.integers("layers_to_transform")
        layersPattern = try fields.strings("layers_pattern")
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("r", rank)
        writer.set("target_modules", targetModules)
        writer.set("projection_prng_key", .number(Double(projectionSeed)))
        writer.set("save_projection", saveProjection)
        writer.set("vera_dropout", dropout)
        writer.set("d_initial", initialD)
        writer.set("fan_in_fan_out", fanInFanOut)
        writer.set("bias", bias.rawValue)
        writer.set("modules_to_save", modulesToSave)
        writer.set("init_weights", initializeToIdentity)
        writer.set("layers_to_transform", layersToTransform)
        writer.set("layers_pattern", layersPattern)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try LowRankValidation.check(rank: rank, alpha: 1, alphaField: "alpha", rankPattern: [], alphaPattern: [], targetModules: targetModules,
                                    excludeModules: nil, layersToTransform: layersToTransform)
        try LowRankValidation.checkProbability(dropout, field: "vera_dropout")
        guard initialD.isFinite && abs(initialD) <= LowRankValidation.largestAlpha else {
            throw PEFTError.invalidConfiguration(field: "d_initial", reason: "must be a finite number of magnitude at most \(Int(LowRankValidation.largestAlpha)), got \(initialD)")
        }
    }

    /// Equal when every field is equal.
    public static func == (lhs: VeRAConfig, rhs: VeRAConfig) -> Bool { lhs.json == rhs.json }
}
