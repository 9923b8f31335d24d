import Autograd
import Tensors

/// A `ModuleList` seen without its element type (how fine-tuning helpers find a model's blocks).
public protocol BlockList: Module {
    /// Number of blocks.
    var count: Int { get }
}

extension ModuleList: BlockList {}

/// The classic fine-tuning recipe, read as it is told: freeze the base, put a new head on it,
/// optionally unfreeze the top blocks.
///
/// ```swift
/// model.freeze()
/// try model.replaceHead(at: "classifier", outFeatures: 5)
/// try model.unfreezeTopBlocks(1)
/// ```
extension Module {
    /// The path and length of the model's repeated blocks: its longest `ModuleList`
    /// (`model.layers`, `transformer.h`, `bert.encoder.layer`), or nil when it has none.
    public var repeatedBlocks: (path: String, count: Int)? {
        namedModules().compactMap { entry in (entry.module as? any BlockList).map { (entry.path, $0.count) } }
            .max { $0.1 < $1.1 }
    }

    /// Unfreezes every parameter of the last `count` blocks (the ones nearest the head).
    /// - Throws: `ModuleError.unsupported` when the model has no block list or fewer blocks.
    public func unfreezeTopBlocks(_ count: Int) throws {
        guard let blocks = repeatedBlocks else { throw ModuleError.unsupported("unfreezeTopBlocks: \(type(of: self)) has no list of blocks") }
        guard count >= 0 && count <= blocks.count else {
            throw ModuleError.unsupported("unfreezeTopBlocks(\(count)): '\(blocks.path)' holds \(blocks.count) blocks")
        }
        for index in (blocks.count - count)..<blocks.count {
            unfreeze(path: blocks.path.isEmpty ? "\(index)" : "\(blocks.path).\(index)")
        }
    }

    /// Replaces the linear layer at `path` by a new, trainable one with `outFeatures` outputs (a new
    /// classification head), initialised like PyTorch from `seed`; it keeps the old layer's input
    /// size and whether it had a bias.
    /// - Throws: `ModuleError.noSuchModule`, or `.incompatibleReplacement` when `path` is not a linear layer.
    @discardableResult
    public func replaceHead(at path: String, outFeatures: Int, seed: UInt64 = 0) throws -> Linear {
        guard let old = module(at: path) else { throw ModuleError.noSuchModule(path: path) }
        guard let linear = old as? any LinearLayer else {
            throw ModuleError.incompatibleReplacement(path: path, required: "LinearLayer", found: "\(type(of: old))")
        }
        guard outFeatures > 0 else { throw ModuleError.unsupported("replaceHead: outFeatures must be positive, got \(outFeatures)") }
        var generator = SeededRandom(seed: seed)
        let head = Linear(inFeatures: linear.inFeatures, outFeatures: outFeatures, bias: linear.bias != nil, generator: &generator)
        try replaceModule(at: path, with: head)
        return head
    }
}
