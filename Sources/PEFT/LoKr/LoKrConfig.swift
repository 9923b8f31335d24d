import ModelIO

/// How new LoKr weights start (PEFT's `init_weights`).
public enum LoKrInitialization: Sendable, Equatable {
    /// `true`: `W1` (or `W1a`) zero, so the adapted model starts equal to the base.
    case standard
    /// `"lycoris"`: `W2` (or `W2b`) zero instead, as the LyCORIS library starts.
    case lycoris
    /// `false`: every factor random — a non-identity start (for tests).
    case random
}

/// A LoKr configuration (low-rank Kronecker product, from LyCORIS) with Hugging Face PEFT's JSON keys.
///
/// `ΔW = (W1 ⊗ W2) · α/r` with `W1: [out₁, in₁]` and `W2: [out₂, in₂]`, where `out = out₁·out₂` and
/// `in = in₁·in₂` split each side into two factors (`factorization`); `W2` (and with
/// `decompose_both`, `W1`) is itself a rank-r product `Wa·Wb` when r is below half its larger side.
public struct LoKrConfig: LycorisConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .lokr }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// The shared LyCORIS settings (`r`, `alpha`, dropouts, patterns, targets).
    public var lycoris: LycorisSettings
    /// `decompose_both`: also write `W1` as a rank-r product when r is small enough.
    public var decomposeBoth: Bool
    /// `decompose_factor`: the preferred size of the first factor of each side (-1: near the square root).
    public var decomposeFactor: Int
    /// `rank_dropout_scale`: rescale the rows rank dropout keeps by the fraction kept.
    public var rankDropoutScale: Bool
    /// `init_weights`.
    public var initialization: LoKrInitialization
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(rank: Int = 8, alpha: Double = 8, rankDropout: Double = 0, moduleDropout: Double = 0, targetModules: TargetModules? = nil,
                decomposeBoth: Bool = false, decomposeFactor: Int = -1, rankDropoutScale: Bool = false,
                initialization: LoKrInitialization = .standard, modulesToSave: [String]? = nil, taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        lycoris = LycorisSettings(rank: rank, alpha: alpha, rankDropout: rankDropout, moduleDropout: moduleDropout, targetModules: targetModules,
                                  modulesToSave: modulesToSave)
        self.decomposeBoth = decomposeBoth
        self.decomposeFactor = decomposeFactor
        self.rankDropoutScale = rankDropoutScale
        self.initialization = initialization
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        lycoris = try LycorisSettings(&fields)
        decomposeBoth = try fields.bool("decompose_both", default: false)
        decomposeFactor = try fields.integer("decompose_factor", default: -1)
        rankDropoutScale = try fields.bool("rank_dropout_scale", default: false)
        switch fields.value("init_weights") {
        case nil, .bool(true)?: initialization = .standard
        case .bool(false)?: initialization = .random
        case .string("lycoris")?: initialization = .lycoris
        case let other?:
            throw PEFTError.invalidConfiguration(field: "init_weights", reason: "\(other.serialized().prefix(40)) is not supported (true, false or \"lycoris\")")
        }
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        lycoris.write(to: &writer)
        writer.set("decompose_both", decomposeBoth)
        writer.set("decompose_factor", decomposeFactor)
        writer.set("rank_dropout_scale", rankDropoutScale)
        switch initialization {
        case .standard: writer.set("init_weights", true)
        case .random: writer.set("init_weights", false)
        case .lycoris: writer.set("init_weights", "lycoris")
        }
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try lycoris.validate()
        guard decomposeFactor == -1 || decomposeFactor > 0 else {
            throw PEFTError.invalidConfiguration(field: "decompose_factor", reason: "must be -1 (near the square root) or positive, got \(decomposeFactor)")
        }
    }

    /// Equal when every field is equal.
    public static func == (lhs: LoKrConfig, rhs: LoKrConfig) -> Bool { lhs.json == rhs.json }
}
