/// The checks every low-rank method (LoRA, LoHa, LoKr …) makes of the fields they share: the rank,
/// the alpha and their per-module patterns, targets and the layer selection. Each throws
/// `PEFTError.invalidConfiguration` naming the field.
enum LowRankValidation {
    /// Largest rank accepted.
    static let largestRank = 65_536
    /// Largest alpha (and `alpha_pattern` value) accepted: far above any used in practice (scales of
    /// thousands already destroy a model), far below where products overflow.
    static let largestAlpha: Double = 1e6

    static func check(rank: Int, alpha: Double, alphaField: String, rankPattern: [(pattern: String, value: Double)],
                      alphaPattern: [(pattern: String, value: Double)], targetModules: TargetModules?, excludeModules: TargetModules?,
                      layersToTransform: [Int]?) throws {
        guard rank > 0 && rank <= largestRank else { throw PEFTError.invalidConfiguration(field: "r", reason: "must be in 1...\(largestRank), got \(rank)") }
        guard alpha.isFinite && abs(alpha) <= largestAlpha else {
            throw PEFTError.invalidConfiguration(field: alphaField, reason: "must be a finite number of magnitude at most \(Int(largestAlpha)), got \(alpha)")
        }
        try targetModules?.validate(field: "target_modules")
        try excludeModules?.validate(field: "exclude_modules")
        for (pattern, value) in rankPattern {
            _ = try TargetModules.compile(pattern, field: "rank_pattern")
            guard value >= 1 && value <= Double(largestRank) && value.rounded() == value else {
                throw PEFTError.invalidConfiguration(field: "rank_pattern.\(pattern)", reason: "rank must be a positive integer")
            }
        }
        for (pattern, value) in alphaPattern {
            _ = try TargetModules.compile(pattern, field: "alpha_pattern")
            guard value.isFinite && abs(value) <= largestAlpha else {
                throw PEFTError.invalidConfiguration(field: "alpha_pattern.\(pattern)", reason: "must be a finite number of magnitude at most \(Int(largestAlpha)), got \(value)")
            }
        }
        if let negative = layersToTransform?.first(where: { $0 < 0 }) {
            throw PEFTError.invalidConfiguration(field: "layers_to_transform", reason: "layer indices count from 0; got \(negative)")
        }
        if layersToTransform != nil, case .pattern? = targetModules {
            throw PEFTError.invalidConfiguration(field: "layers_to_transform", reason: "cannot be combined with a regular-expression target_modules")
        }
    }

    /// A dropout probability in [0, 1).
    static func checkProbability(_ value: Double, field: String) throws {
        guard value >= 0 && value < 1 else { throw PEFTError.invalidConfiguration(field: field, reason: "must be in [0, 1), got \(value)") }
    }
}
