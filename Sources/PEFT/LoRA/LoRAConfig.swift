import Foundation
import ModelIO

/// Which base-layer biases train alongside a LoRA adapter (PEFT's `bias`).
public enum LoRABias: String, Sendable {
    /// No bias trains.
    case none
    /// Every bias of the model trains.
    case all
    /// Only biases of the layers LoRA wraps train.
    case loraOnly = "lora_only"
}

/// How new LoRA weights start (PEFT's `init_lora_weights`).
public enum LoRAInitialization: Sendable, Equatable {
    /// `true`: A Kaiming-uniform (a = √5), B zero — the adapted model starts equal to the base.
    case standard
    /// `"gaussian"`: A normal with standard deviation 1/r, B zero.
    case gaussian
    /// `false`: A and B both Kaiming-uniform — a random, non-identity start (for tests).
    case random
}

/// A LoRA adapter configuration (also rsLoRA and DoRA), with Hugging Face PEFT's JSON keys.
///
/// `h = W₀x + s·B·A·dropout(x)` with `A: [r, in]`, `B: [out, r]` and `s = α/r` (`α/√r` with rsLoRA).
public struct LoRAConfig: AdapterConfiguration, Equatable {
    /// `peft_type`.
    public var peftType: PeftType { .lora }
    /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, …).
    public var taskType: String?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// `inference_mode`: the adapter loads frozen, for inference.
    public var inferenceMode: Bool
    /// `r`: the rank.
    public var rank: Int
    /// `lora_alpha`: the scale numerator.
    public var alpha: Double
    /// `lora_dropout`: dropout probability on the adapter input, in [0, 1).
    public var dropout: Double
    /// `target_modules`; nil picks the architecture's default (`q_proj`/`v_proj` for Llama).
    public var targetModules: TargetModules?
    /// `exclude_modules`: modules never wrapped even when targeted.
    public var excludeModules: TargetModules?
    /// `bias`.
    public var bias: LoRABias
    /// `use_rslora`: scale by α/√r instead of α/r.
    public var useRSLoRA: Bool
    /// `use_dora`: weight-decomposed LoRA (a learned magnitude per output row).
    public var useDoRA: Bool
    /// `modules_to_save`: modules trained as full copies (a new head).
    public var modulesToSave: [String]?
    /// `layers_to_transform`: only layers with these indices are wrapped.
    public var layersToTransform: [Int]?
    /// `layers_pattern`: the name(s) of the layer list whose index `layers_to_transform` reads.
    public var layersPattern: [String]?
    /// `rank_pattern`: per-module ranks (pattern → r), first match wins.
    public var rankPattern: [(pattern: String, value: Double)]
    /// `alpha_pattern`: per-module alphas (pattern → α), first match wins.
    public var alphaPattern: [(pattern: String, value: Double)]
    /// `init_lora_weights`.
    public var initialization: LoRAInitialization
    /// `fan_in_fan_out`: the targets store their weight `[in, out]` (GPT-2's `Conv1D`); set
    /// automatically when such a layer is wrapped.
    public var fanInFanOut: Bool
    /// Keys read from a file that this type does not know, written back unchanged.
    public var unknownMembers: [(key: String, value: JSONValue)] = []

    /// A configuration with PEFT's defaults for everything not given.
    public init(rank: Int = 8, alpha: Double = 8, dropout: Double = 0, targetModules: TargetModules? = nil,
                excludeModules: TargetModules? = nil, bias: LoRABias = .none, useRSLoRA: Bool = false, useDoRA: Bool = false,
                modulesToSave: [String]? = nil, layersToTransform: [Int]? = nil, layersPattern: [String]? = nil,
                rankPattern: [(pattern: String, value: Double)] = [], alphaPattern: [(pattern: String, value: Double)] = [],
                initialization: LoRAInitialization = .standard, fanInFanOut: Bool = false, taskType: String? = "CAUSAL_LM",
                baseModelNameOrPath: String? = nil, inferenceMode: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetModules = targetModules
        self.excludeModules = excludeModules
        self.bias = bias
        self.useRSLoRA = useRSLoRA
        self.useDoRA = useDoRA
        self.modulesToSave = modulesToSave
        self.layersToTransform = layersToTransform
        self.layersPattern = layersPattern
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.initialization = initialization
        self.fanInFanOut = fanInFanOut
        self.taskType = taskType
        self.baseModelNameOrPath = baseModelNameOrPath
        self.inferenceMode = inferenceMode
    }

    /// Convenience: targets by name (`["q_proj", "v_proj"]`, or `["all-linear"]`).
    public init(rank: Int, alpha: Double, dropout: Double = 0, targetModules names: [String], useRSLoRA: Bool = false,
                useDoRA: Bool = false, modulesToSave: [String]? = nil) {
        self.init(rank: rank, alpha: alpha, dropout: dropout,
                  targetModules: names == ["all-linear"] ? .allLinear : .names(names),
                  useRSLoRA: useRSLoRA, useDoRA: useDoRA, modulesToSave: modulesToSave)
    }

    /// Reads the `adapter_config.json` object; errors name the field.
    public init(json: JSONValue) throws {
        var fields = try ConfigurationFields(json)
        (taskType, baseModelNameOrPath, inferenceMode) = try fields.header()
        rank = try fields.integer("r", default: 8)
        alpha = try fields.number("lora_alpha", default: 8)
        dropout = try fields.number("lora_dropout", default: 0)
        targetModules = try fields.targets("target_modules")
        excludeModules = try fields.targets("exclude_modules")
        let biasText = try fields.string("bias") ?? "none"
        guard let bias = LoRABias(rawValue: biasText) else {
            throw PEFTError.invalidConfiguration(field: "bias", reason: "'\(biasText.prefix(40))' is not none, all or lora_only")
        }
        self.bias = bias
        useRSLoRA = try fields.bool("use_rslora", default: false)
        useDoRA = try fields.bool("use_dora", default: false)
        modulesToSave = try fields.strings("modules_to_save")
        layersToTransform = try fields.integers("layers_to_transform")
        layersPattern = try fields.strings("layers_pattern")
        rankPattern = try fields.patternTable("rank_pattern")
        alphaPattern = try fields.patternTable("alpha_pattern")
        switch fields.value("init_lora_weights") {
        case nil, .bool(true)?: initialization = .standard
        case .bool(false)?: initialization = .random
        case .string("gaussian")?: initialization = .gaussian
        case let other?:
            throw PEFTError.invalidConfiguration(field: "init_lora_weights", reason: "\(other.serialized().prefix(40)) is not supported (true, false or \"gaussian\")")
        }
        fanInFanOut = try fields.bool("fan_in_fan_out", default: false)
        unknownMembers = fields.unreadMembers
    }

    /// The `adapter_config.json` object: PEFT's keys, unknown keys kept.
    public var json: JSONValue {
        var writer = ConfigurationWriter(header: self)
        writer.set("r", rank)
        writer.set("lora_alpha", alpha)
        writer.set("lora_dropout", dropout)
        writer.set("target_modules", targetModules)
        writer.set("exclude_modules", excludeModules)
        writer.set("bias", bias.rawValue)
        writer.set("use_rslora", useRSLoRA)
        writer.set("use_dora", useDoRA)
        writer.set("modules_to_save", modulesToSave)
        writer.set("layers_to_transform", layersToTransform.map { .array($0.map { .number(Double($0)) }) } ?? .null)
        writer.set("layers_pattern", layersPattern)
        writer.set("rank_pattern", .object(rankPattern.map { ($0.pattern, .number($0.value)) }))
        writer.set("alpha_pattern", .object(alphaPattern.map { ($0.pattern, .number($0.value)) }))
        switch initialization {
        case .standard: writer.set("init_lora_weights", true)
        case .random: writer.set("init_lora_weights", false)
        case .gaussian: writer.set("init_lora_weights", "gaussian")
        }
        writer.set("fan_in_fan_out", fanInFanOut)
        return writer.object(extra: unknownMembers)
    }

    /// Largest `lora_alpha` (and `alpha_pattern` value) accepted: far above any used in practice
    /// (scales α/r of thousands already destroy a model), far below where products overflow.
    public static let largestAlpha: Double = LowRankValidation.largestAlpha

    /// Checks every field; throws `PEFTError.invalidConfiguration` naming the one that is wrong.
    public func validate() throws {
        try LowRankValidation.check(rank: rank, alpha: alpha, alphaField: "lora_alpha", rankPattern: rankPattern, alphaPattern: alphaPattern,
                                    targetModules: targetModules, excludeModules: excludeModules, layersToTransform: layersToTransform)
        try LowRankValidation.checkProbability(dropout, field: "lora_dropout")
    }

    /// The rank and alpha for the module at `path` (`rank_pattern` / `alpha_pattern` applied).
    func rankAndAlpha(for path: String) -> (rank: Int, alpha: Double) {
        (patternValue(rankPattern, path: path).map { Int($0) } ?? rank, patternValue(alphaPattern, path: path) ?? alpha)
    }

    /// `α/r`, or `α/√r` with rsLoRA.
    static func scaling(rank: Int, alpha: Double, rsLoRA: Bool) -> Float {
        Float(rsLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
    }

    /// Equal when every field is equal.
    public static func == (lhs: LoRAConfig, rhs: LoRAConfig) -> Bool { lhs.json == rhs.json }
}
