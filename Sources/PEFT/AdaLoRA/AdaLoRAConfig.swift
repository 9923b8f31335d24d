import ModelIO

/// An AdaLoRA configuration (adaptive-rank LoRA) with Hugging Face PEFT's JSON keys.
///
/// Each target gets an SVD-shaped update `ΔW = B·(A ⊙ E)·α/(r₀ + 10⁻⁵)` with `A: [r₀, in]`, singular
/// values `E: [r₀, 1]` and `B: [out, r₀]`, where `r₀` is `init_r`. While training, a rank allocator
/// scores every singular triplet by a smoothed sensitivity and zeroes the least important ones,
/// shrinking the total budget from `init_r` to `target_r` per layer on a cubic schedule between
/// `tinit` and `total_step − tfinal`; an orthogonality penalty keeps A's rows and B's columns
/// orthonormal. The ranks kept are saved as `rank_pattern`, and the saved tensors keep only them.
public struct AdaLoRAConfig: LayerAdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .adaLoRA }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `init_r`: every target's starting rank.
    public var initialRank: Int
    /// `target_r`: the average rank per target the budget ends at.
    public var targetRank: Int
    /// `tinit`: steps before the budget starts to shrink.
    public var initialSteps: Int
    /// `tfinal`: steps at the end trained with the final ranks fixed.
    public var finalSteps: Int
    /// `deltaT`: steps between two reallocations while the budget shrinks.
    public var allocationInterval: Int
    /// `beta1`: smoothing of the sensitivity.
    public var beta1: Double
    /// `beta2`: smoothing of its uncertainty.
    public var beta2: Double
    /// `orth_reg_weight`: weight of the orthogonality penalty added to the loss.
    public var orthogonalityWeight: Double
    /// `total_step`: the run's optimizer steps, which the budget schedule is laid over (required,
    /// as PEFT requires it).
    public var totalSteps: Int?
    /// `rank_pattern`: which of each target's `init_r` triplets the allocator kept, by
    /// `<module path>.lora_E` (nil until an allocation).
    public var rankPattern: [(module: String, kept: [Bool])]?
    /// `lora_alpha`: the scale numerator (the update is scaled by α/`init_r`).
    public var alpha: Double
    /// `lora_dropout`: dropout probability on the adapter input, in [0, 1).
    public var dropout: Double
    /// `target_modules`; nil picks the architecture's default (`q_proj`/`v_proj` for Llama).
    public var targetModules: TargetModules?
    /// `exclude_modules`: modules never wrapped even when targeted.
    public var excludeModules: TargetModules?
    /// `bias`.
    public var bias: LoRABias
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]?
    /// `layers_to_transform`: only layers with these indices are wrapped.
    public var layersToTransform: [Int]?
    /// `layers_pattern`: the layer list whose index `layers_to_transform` reads.
    public var layersPattern: [String]?
    /// `init_lora_weights`: true starts E at zero (the adapted model equals the base) and A, B
    /// normal with standard deviation 0.02; false starts all three standard normal.
    public var initializeToIdentity: Bool
    /// `fan_in_fan_out`: set automatically when a target stores its weight `[in, out]`.
    public var fanInFanOut: Bool
    /// Keys read from a file that this type does not know (LoRA's other keys), written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(initialRank: Int = 12, targetRank: Int = 8, totalSteps: Int?, initialSteps: Int = 0, finalSteps: Int = 0,
                allocationInterval: Int = 1, beta1: Double = 0.85, beta2: Double = 0.85, orthogonalityWeight: Double = 0.5, alpha: Double = 8,
                dropout: Double = 0, targetModules: TargetModules? = nil, bias: LoRABias = .none, modulesToSave: [String]? = nil,
                initializeToIdentity: Bool = true, taskType: String? = "CAUSAL_LM", baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.initialRank = initialRank
        self.targetRank = targetRank
        self.totalSteps = totalSteps
        self.initialSteps = initialSteps
        self.finalSteps = finalSteps
        self.allocationInterval = allocationInterval
        self.beta1 = beta1
        self.beta2 = beta2
        self.orthogonalityWeight = orthogonalityWeight
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.bias = bias
        self.modulesToSave = modulesToSave
        self.initializeToIdentity = initializeToIdentity
        self.fanInFanOut = false
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        if json["use_dora"]?.bool == true { throw PEFTError.invalidConfiguration(field: "use_dora", reason: "AdaLoRA does not support DoRA") }
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        initialRank = try fields.integer("init_r", default: 12)
        targetRank = try fields.integer("target_r", default: 8)
        initialSteps = try fields.integer("tinit", default: 0)
        finalSteps = try fields.integer("tfinal", default: 0)
        allocationInterval = try fields.integer("deltaT", default: 1)
        beta1 = try fields.number("beta1", default: 0.85)
        beta2 = try fields.number("beta2", default: 0.85)
        orthogonalityWeight = try fields.number("orth_reg_weight", default: 0.5)
        totalSteps = try fields.value("total_step").map { value in
            guard let steps = value.integer else { throw PEFTError.invalidConfiguration(field: "total_step", reason: "must be an integer") }
            return steps
        }
        rankPattern = try fields.value("rank_pattern").map { value in
            guard let members = value.members else { throw PEFTError.invalidConfiguration(field: "rank_pattern", reason: "must be an object of module → list of booleans") }
            return try members.map { member in
                guard let items = member.value.array, items.allSatisfy({ $0.bool != nil }) else {
                    throw PEFTError.invalidConfiguration(field: "rank_pattern.\(member.key.prefix(80))", reason: "must be a list of booleans (which ranks are kept)")
                }
                return (member.key, items.compactMap(\.bool))
            }
        }
        alpha = try fields.number("lora_alpha", default: 8)
        dropout = try fields.number("lora_dropout", default: 0)
        targetModules = try fields.targets("target_modules")
        excludeModules = try fields.targets("exclude_modules")
        let biasText = try fields.string("bias") ?? "none"
        guard let bias = LoRABias(rawValue: biasText) else {
            throw PEFTError.invalidConfiguration(field: "bias", reason: "'\(biasText.prefix(40))' is not none, all or lora_only")
        }
        self.bias = bias
        modulesToSave = try fields.strings("modules_to_save")
        layersToTransform = try fields.integers("layers_to_transform")
        layersPattern = try fields.strings("layers_pattern")
        initializeToIdentity = try fields.bool("init_lora_weights", default: true)
        fanInFanOut = try fields.bool("fan_in_fan_out", default: false)
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("init_r", initialRank)
        writer.set("target_r", targetRank)
        writer.set("tinit", initialSteps)
        writer.set("tfinal", finalSteps)
        writer.set("deltaT", allocationInterval)
        writer.set("beta1", beta1)
        writer.set("beta2", beta2)
        writer.set("orth_reg_weight", orthogonalityWeight)
        writer.set("total_step", totalSteps.map { .number(Double($0)) } ?? .null)
        writer.set("rank_pattern", rankPattern.map { .object($0.map { ($0.module, .array($0.kept.map { .bool($0) })) }) } ?? .null)
        writer.set("lora_alpha", alpha)
        writer.set("lora_dropout", dropout)
        writer.set("target_modules", targetModules)
        writer.set("exclude_modules", excludeModules)
        writer.set("bias", bias.rawValue)
        writer.set("modules_to_save", modulesToSave)
        writer.set("layers_to_transform", layersToTransform)
        writer.set("layers_pattern", layersPattern)
        writer.set("init_lora_weights", initializeToIdentity)
        writer.set("fan_in_fan_out", fanInFanOut)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field as PEFT does (and what its allocator assumes); throws
    /// `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try LowRankValidation.check(rank: initialRank, alpha: alpha, alphaField: "lora_alpha", rankPattern: [], alphaPattern: [],
                                    targetModules: targetModules, excludeModules: excludeModules, layersToTransform: layersToTransform)
        try LowRankValidation.checkProbability(dropout, field: "lora_dropout")
        guard targetRank >= 1 && targetRank <= initialRank else {
            throw PEFTError.invalidConfiguration(field: "target_r", reason: "must be in 1...init_r (\(initialRank)), got \(targetRank)")
        }
        guard let totalSteps, totalSteps > 0 else {
            throw PEFTError.invalidConfiguration(field: "total_step", reason: "AdaLoRA needs the run's total optimizer steps (> 0), as PEFT does")
        }
        guard initialSteps >= 0 && finalSteps >= 0 && initialSteps < totalSteps - finalSteps else {
            throw PEFTError.invalidConfiguration(field: "tinit", reason: "tinit (\(initialSteps)) must be below total_step − tfinal (\(totalSteps - finalSteps)), with both non-negative")
        }
        guard allocationInterval >= 1 else { throw PEFTError.invalidConfiguration(field: "deltaT", reason: "must be at least 1, got \(allocationInterval)") }
        for (field, beta) in [("beta1", beta1), ("beta2", beta2)] where !(beta > 0 && beta < 1) {
            throw PEFTError.invalidConfiguration(field: field, reason: "must be in (0, 1), got \(beta)")
        }
        guard orthogonalityWeight.isFinite && orthogonalityWeight >= 0 && orthogonalityWeight <= LowRankValidation.largestAlpha else {
            throw PEFTError.invalidConfiguration(field: "orth_reg_weight", reason: "must be a finite number ≥ 0, got \(orthogonalityWeight)")
        }
    }

    /// The rank the target at `path` has: its kept triplets when `rank_pattern` names it, else `init_r`.
    func rank(for path: String) -> Int {
        rankPattern?.first { $0.module == path + ".lora_E" }.map { $0.kept.filter { $0 }.count } ?? initialRank
    }

    /// Equal when every field is equal.
    public static func == (lhs: AdaLoRAConfig, rhs: AdaLoRAConfig) -> Bool { lhs.json == rhs.json }
}
