import ModelIO
import Models
import NN

/// The settings the LyCORIS methods (LoHa, LoKr) share, with Hugging Face PEFT's keys (its
/// `LycorisConfig`): rank and alpha with their per-module patterns, the two training dropouts, and
/// targeting. Each method's configuration holds one and adds its own keys.
public struct LycorisSettings: Sendable, Equatable {
    /// `r`.
    public var rank: Int
    /// `alpha`: the scale numerator (scale α/r).
    public var alpha: Double
    /// `rank_dropout`: in training, the probability of dropping each output row of ΔW.
    public var rankDropout: Double
    /// `module_dropout`: in training, the probability of skipping the adapter for a whole pass.
    public var moduleDropout: Double
    /// `use_effective_conv2d`: for convolutions only; kept as read.
    public var useEffectiveConv2d: Bool
    /// `target_modules`; nil picks the architecture's default (`q_proj`/`v_proj` for Llama).
    public var targetModules: TargetModules?
    /// `exclude_modules`: modules never wrapped even when targeted.
    public var excludeModules: TargetModules?
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

    /// Settings with PEFT's defaults for everything not given.
    public init(rank: Int = 8, alpha: Double = 8, rankDropout: Double = 0, moduleDropout: Double = 0, targetModules: TargetModules? = nil,
                excludeModules: TargetModules? = nil, layersToTransform: [Int]? = nil, layersPattern: [String]? = nil,
                rankPattern: [(pattern: String, value: Double)] = [], alphaPattern: [(pattern: String, value: Double)] = [],
                modulesToSave: [String]? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.rankDropout = rankDropout
        self.moduleDropout = moduleDropout
        self.useEffectiveConv2d = false
        self.targetModules = targetModules
        self.excludeModules = excludeModules
        self.layersToTransform = layersToTransform
        self.layersPattern = layersPattern
        self.rankPattern = rankPattern
        self.alphaPattern = alphaPattern
        self.modulesToSave = modulesToSave
    }

    /// Reads the shared keys (the method reads its own from the same fields).
    init(_ fields: inout ConfigurationFields) throws {
        rank = try fields.integer("r", default: 8)
        alpha = try fields.number("alpha", default: 8)
        rankDropout = try fields.number("rank_dropout", default: 0)
        moduleDropout = try fields.number("module_dropout", default: 0)
        useEffectiveConv2d = try fields.bool("use_effective_conv2d", default: false)
        targetModules = try fields.targets("target_modules")
        excludeModules = try fields.targets("exclude_modules")
        layersToTransform = try fields.integers("layers_to_transform")
        layersPattern = try fields.strings("layers_pattern")
        rankPattern = try fields.patternTable("rank_pattern")
        alphaPattern = try fields.patternTable("alpha_pattern")
        modulesToSave = try fields.strings("modules_to_save")
    }

    /// Writes the shared keys.
    func write(to writer: inout ConfigurationWriter) {
        writer.set("r", rank)
        writer.set("alpha", alpha)
        writer.set("rank_dropout", rankDropout)
        writer.set("module_dropout", moduleDropout)
        writer.set("use_effective_conv2d", useEffectiveConv2d)
        writer.set("target_modules", targetModules)
        writer.set("exclude_modules", excludeModules)
        writer.set("layers_to_transform", layersToTransform)
        writer.set("layers_pattern", layersPattern)
        writer.set("rank_pattern", rankPattern)
        writer.set("alpha_pattern", alphaPattern)
        writer.set("modules_to_save", modulesToSave)
    }

    /// Checks the shared fields, naming the one that is wrong.
    func validate() throws {
        try LowRankValidation.check(rank: rank, alpha: alpha, alphaField: "alpha", rankPattern: rankPattern, alphaPattern: alphaPattern,
                                    targetModules: targetModules, excludeModules: excludeModules, layersToTransform: layersToTransform)
        try LowRankValidation.checkProbability(rankDropout, field: "rank_dropout")
        try LowRankValidation.checkProbability(moduleDropout, field: "module_dropout")
    }

    /// The rank and alpha for the module at `path` (`rank_pattern` / `alpha_pattern` applied).
    func rankAndAlpha(for path: String) -> (rank: Int, alpha: Double) {
        (patternValue(rankPattern, path: path).map { Int($0) } ?? rank, patternValue(alphaPattern, path: path) ?? alpha)
    }

    /// Equal when every field is equal (patterns in order).
    public static func == (lhs: LycorisSettings, rhs: LycorisSettings) -> Bool {
        var left = ConfigurationWriter(), right = ConfigurationWriter()
        lhs.write(to: &left)
        rhs.write(to: &right)
        return left.object(extra: []) == right.object(extra: [])
    }
}

/// A LyCORIS method's configuration: its shared settings are read through it (`config.rank`), and
/// the targeting hooks every LyCORIS method has in common come from here.
@dynamicMemberLookup
public protocol LycorisConfiguration: LayerAdapterConfiguration {
    /// The shared settings.
    var lycoris: LycorisSettings { get set }
}

extension LycorisConfiguration {
    /// A shared setting (`config.rank`, `config.alpha`, …).
    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<LycorisSettings, Value>) -> Value {
        get { lycoris[keyPath: keyPath] }
        set { lycoris[keyPath: keyPath] = newValue }
    }

    /// `target_modules`.
    public var targetModules: TargetModules? {
        get { lycoris.targetModules }
        set { lycoris.targetModules = newValue }
    }
    /// `exclude_modules`.
    public var excludeModules: TargetModules? {
        get { lycoris.excludeModules }
        set { lycoris.excludeModules = newValue }
    }
    /// `layers_to_transform`.
    public var layersToTransform: [Int]? {
        get { lycoris.layersToTransform }
        set { lycoris.layersToTransform = newValue }
    }
    /// `layers_pattern`.
    public var layersPattern: [String]? {
        get { lycoris.layersPattern }
        set { lycoris.layersPattern = newValue }
    }
    /// `modules_to_save`.
    public var modulesToSave: [String]? {
        get { lycoris.modulesToSave }
        set { lycoris.modulesToSave = newValue }
    }
    /// The low-rank entry (`q_proj`, `v_proj` for Llama), as PEFT's LyCORIS tables.
    public static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { \.lowRank }

    /// Linear layers that store their weight `[out, in]`: PEFT's LyCORIS methods do not wrap GPT-2's `Conv1D`.
    public func checkTarget(_ module: Module, at path: String) throws {
        guard let layer = module as? any LinearLayer, layer.weightLayout == .outputsByInputs else {
            throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: peftType.rawValue)
        }
    }
}

extension AdapterMethod {
    /// `--rank-dropout P`: LyCORIS methods' dropout of ΔW's rows in training.
    static let rankDropout = AdapterOption(name: "rank-dropout", placeholder: "P", help: "Dropout of the update's output rows in training",
                                           kind: .number(default: 0, range: 0...0.99))
    /// `--module-dropout P`: LyCORIS methods' chance of skipping the adapter for a training pass.
    static let moduleDropout = AdapterOption(name: "module-dropout", placeholder: "P", help: "Chance of skipping the adapter for a training pass",
                                             kind: .number(default: 0, range: 0...0.99))
}
