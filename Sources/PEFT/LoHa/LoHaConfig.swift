import Foundation
import ModelIO

/// A LoHa configuration (low-rank Hadamard product, from LyCORIS) with Hugging Face PEFT's JSON keys.
///
/// `h = W₀x + ΔW·x` with `ΔW = (W1a·W1b) ⊙ (W2a·W2b) · α/r`, where `W1a`, `W2a` are `[out, r]` and
/// `W1b`, `W2b` are `[r, in]`: two rank-r factors whose element-wise product can reach rank r².
public struct LoHaConfig: AdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .loha }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `r`: the rank of each factor.
    public var rank: Int
    /// `alpha`: the scale numerator (scale α/r).
    public var alpha: Double
    /// `rank_dropout`: in training, the probability of dropping each output row of ΔW (the kept rows
    /// are rescaled by the fraction kept).
    public var rankDropout: Double
    /// `module_dropout`: in training, the probability of skipping the adapter for a whole forward pass.
    public var moduleDropout: Double
    /// `use_effective_conv2d`: for convolutions only; kept as read.
    public var useEffectiveConv2d: Bool
    /// `target_modules`; nil picks the architecture's default (`q_proj`/`v_proj` for Llama).
    public var targetModules: TargetModules?
    /// `exclude_modules`: modules never wrapped even when targeted.
    public var excludeModules: TargetModules?
    /// `init_weights`: true starts `W2b` at zero (the adapted model equals the base); false starts
    /// every factor random.
    public var initializeToIdentity: Bool
    /// `layers_to_transform`: only layers with these indices are wrapped.
    public var layersToTransform: [Int]?
    /// `layers_pattern`: the layer list whose index `layers_to_transform` reads.
    public var layersPattern: [String]?
    /// `rank_pattern`: per-module ranks (pattern → r), first match wins.
    public var rankPattern: [(pattern: String, value: Double)]
    /// `alpha_pattern`: per-module alphas (pattern → α), first match wins.
    public var alphaPattern: [(pattern: String, value: Double)]
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]?
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(rank: Int = 8, alpha: Double = 8, rankDropout: Double = 0, moduleDropout: Double = 0, targetModules: TargetModules? = nil,
                excludeModules: TargetModules? = nil, initializeToIdentity: Bool = true, layersToTransform: [Int]? = nil,
                layersPattern: [String]? = nil, rankPattern: [(pattern: String, value: Double)] = [],
                alphaPattern: [(pattern: String, value: Double)] = [], modulesToSave: [String]? = nil, taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.rankDropout = rankDropout
        self.moduleDropout = moduleDropout
        self.useEffectiveConv2d = false
        self.targetModules = targetModules
        self.excludeModules = excludeModules
        self.initializeToIdentity = initializeToIdentity
        self.layersToTransform = layersToTransform
        self.layersPattern = layersPattern
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.modulesToSave = modulesToSave
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        rank = try fields.integer("r", default: 8)
        alpha = try fields.number("alpha", default: 8)
        rankDropout = try fields.number("rank_dropout", default: 0)
        moduleDropout = try fields.number("module_dropout", default: 0)
        useEffectiveConv2d = try fields.bool("use_effective_conv2d", default: false)
        targetModules = try fields.targets("target_modules")
        excludeModules = try fields.targets("exclude_modules")
        initializeToIdentity = try fields.bool("init_weights", default: true)
        layersToTransform = try fields.integers("layers_to_transform")
        layersPattern = try fields.strings("layers_pattern")
        rankPattern = try fields.patternTable("rank_pattern")
        alphaPattern = try fields.patternTable("alpha_pattern")
        modulesToSave = try fields.strings("modules_to_save")
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("r", rank)
        writer.set("alpha", alpha)
        writer.set("rank_dropout", rankDropout)
        writer.set("module_dropout", moduleDropout)
        writer.set("use_effective_conv2d", useEffectiveConv2d)
        writer.set("target_modules", targetModules)
        writer.set("exclude_modules", excludeModules)
        writer.set("init_weights", initializeToIdentity)
        writer.set("layers_to_transform", layersToTransform)
        writer.set("layers_pattern", layersPattern)
        writer.set("rank_pattern", rankPattern)
        writer.set("alpha_pattern", alphaPattern)
        writer.set("modules_to_save", modulesToSave)
        return writer.object(extra: unknownMembers)
    }

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try LowRankValidation.check(rank: rank, alpha: alpha, alphaField: "alpha", rankPattern: rankPattern, alphaPattern: alphaPattern,
                                    targetModules: targetModules, excludeModules: excludeModules, layersToTransform: layersToTransform)
        try LowRankValidation.checkProbability(rankDropout, field: "rank_dropout")
        try LowRankValidation.checkProbability(moduleDropout, field: "module_dropout")
    }

    /// The rank and alpha for the module at `path` (`rank_pattern` / `alpha_pattern` applied).
    func rankAndAlpha(for path: String) -> (rank: Int, alpha: Double) {
        (patternValue(rankPattern, path: path).map { Int($0) } ?? rank, patternValue(alphaPattern, path: path) ?? alpha)
    }

    /// Equal when every field is equal.
    public static func == (lhs: LoHaConfig, rhs: LoHaConfig) -> Bool { lhs.json == rhs.json }
}
