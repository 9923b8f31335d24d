import Autograd
import Foundation
import Models
import NN
import Tensors

/// The configuration of a method that wraps target layers (LoRA, IA³, LoHa …): its targeting fields,
/// and the hooks through which the shared injection (`PeftModel`) attaches, counts and saves it.
///
/// Targeting (names, patterns, `all-linear`, `exclude_modules`, `layers_to_transform`,
/// `modules_to_save`) is done once for every method; a method says only what happens at one target.
public protocol LayerAdapterConfiguration: AdapterConfiguration {
    /// `target_modules`; nil takes the model family's default (`defaultTargets`).
    var targetModules: TargetModules? { get set }
    /// `exclude_modules`: modules never wrapped even when targeted.
    var excludeModules: TargetModules? { get }
    /// `layers_to_transform`: only layers with these indices are wrapped (nil: all).
    var layersToTransform: [Int]? { get }
    /// `layers_pattern`: the layer list whose index `layers_to_transform` reads.
    var layersPattern: [String]? { get }
    /// The entry of the model family's default-target table this method takes.
    static var defaultTargets: KeyPath<DefaultAdapterTargets, [String]> { get }

    /// Throws `PEFTError.unsupportedTarget` when the selected `module` is of a kind the method cannot
    /// wrap (the default accepts linear layers).
    func checkTarget(_ module: Module, at path: String) throws
    /// Adds adapter `name` at `path`: wraps `module` in the method's layer, or adds to the method's
    /// layer already there; a new layer's first adapter becomes active.
    func attach(_ name: String, to module: Module, at path: String, in model: Module, generator: inout SeededRandom) throws
    /// The trainable values attaching to `module` creates (computed from shapes, nothing allocated).
    func trainableCount(of module: Module, at path: String, in model: Module) throws -> Int
    /// The configuration as saved after attaching to `targets` (the default fills `target_modules`
    /// when unset, as PEFT does; methods add what they derive, such as `fan_in_fan_out`).
    func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration
    /// What attaching accepts but a person probably did not mean (a rank above a target's size).
    func notices(for targets: [(path: String, module: Module)]) -> [String]
    /// Tensors that train with adapter `name` beyond its layers' own (LoRA's `bias` modes), by path.
    func extraTrainableTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)]
    /// Frozen tensors adapter `name` shares across its layers, under the keys adapter files give them
    /// (VeRA's projections: `base_model.vera_A`). `saved` ones are written and must be in a file that
    /// is loaded; the others are rebuilt when attaching, and taken from a file that has them anyway.
    func sharedTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable, saved: Bool)]
    /// The hooks adapter `name` needs while training (AdaLoRA's allocator), or nil. `store` replaces
    /// the adapter's stored configuration (what it learned about itself, such as a rank pattern).
    func trainingHooks(_ name: String, model: Module, store: @escaping (any AdapterConfiguration) -> Void) -> (any AdapterTrainingHooks)?
}

extension LayerAdapterConfiguration {
    /// Every layer.
    public var layersToTransform: [Int]? { nil }
    /// Unset.
    public var layersPattern: [String]? { nil }

    /// Accepts linear layers.
    public func checkTarget(_ module: Module, at path: String) throws {
        guard module is any LinearLayer else { throw PEFTError.unsupportedTarget(path: path, type: "\(type(of: module))", method: peftType.rawValue) }
    }

    /// The configuration unchanged.
    public func stored(afterAttachingTo targets: [(path: String, module: Module)], model: Module) throws -> any AdapterConfiguration { self }

    /// None.
    public func notices(for targets: [(path: String, module: Module)]) -> [String] { [] }

    /// None.
    public func extraTrainableTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] { [] }

    /// None.
    public func sharedTensors(_ name: String, model: Module) -> [(key: String, parameter: Variable, saved: Bool)] { [] }
}

/// The configuration of a method that learns virtual-token embeddings put before the input (prompt
/// tuning): the hooks `PeftModel` calls instead of wrapping layers.
public protocol PromptLearningConfiguration: AdapterConfiguration {
    /// `num_virtual_tokens`.
    var virtualTokenCount: Int { get }
    /// The learned table for `model`.
    /// - Parameters:
    ///   - initialTokens: token ids the initialisation needs (prompt tuning's TEXT), if any.
    ///   - loading: weights are assigned right after, so any start will do.
    func makeEmbedding(for model: Module, initialTokens: [Int]?, loading: Bool, generator: inout SeededRandom) throws -> PromptEmbedding
    /// The configuration as saved with `embedding` (its width recorded).
    func stored(with embedding: PromptEmbedding) -> any AdapterConfiguration
}

extension PromptLearningConfiguration {
    /// The trainable values: one row of the model's hidden size per virtual token.
    func trainableCount(in model: Module) -> Int {
        let dimension = model.namedModules().lazy.compactMap { ($0.module as? any EmbeddingLayer)?.dimension }.first ?? 0
        return virtualTokenCount * dimension
    }
}

/// The value for the module at `path` in a `rank_pattern`/`alpha_pattern` table (PEFT: the first
/// pattern matching the whole path or a `.`-suffix of it wins).
func patternValue(_ table: [(pattern: String, value: Double)], path: String) -> Double? {
    table.first { entry in
        (try? NSRegularExpression(pattern: "\\A(?:.*\\.)?(?:" + entry.pattern + ")\\z"))?.wholeMatch(path) ?? false
    }?.value
}
