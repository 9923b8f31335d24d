import Autograd
import NN
import Tensors

/// LoRA on a token embedding (PEFT's `lora.Embedding`): `E[x] + s·Aᵀ[x]·Bᵀ` with
/// `lora_embedding_A.<adapter>` `[r, count]` and `lora_embedding_B.<adapter>` `[dimension, r]`.
/// A starts at zero and B normal, so the adapted model starts equal to the base.
public final class LoRAEmbeddingLayer: Module, AdapterWrapper, EmbeddingLayer {
    /// The wrapped layer (`base_layer` in checkpoints).
    @Child("base_layer") public var baseLayer: any EmbeddingLayer
    @Child("lora_embedding_A") var tablesA: Module
    @Child("lora_embedding_B") var tablesB: Module

    /// `α/r` (or `α/√r`) by adapter name.
    public private(set) var scalings: [String: Float] = [:]
    /// Names of the adapters this layer holds.
    public private(set) var adapterNames: [String] = []
    /// Adapters applied in forward.
    public var activeAdapters: [String] = []
    /// True inside `withAdaptersDisabled`: forward gives the base output only.
    public var adaptersDisabled = false
    private var original: Tensor?
    /// Adapters folded into the base weight.
    public private(set) var mergedAdapters: [String] = []

    /// Wraps `base` (no adapter yet).
    public init(wrapping base: any EmbeddingLayer) {
        super.init()
        registerChild(_baseLayer, base)
        registerChild(_tablesA, Module())
        registerChild(_tablesB, Module())
    }

    /// The wrapped base layer.
    public var wrappedModule: Module { baseLayer }
    /// The base table (tied output heads keep using it, as in PEFT).
    public var weight: Variable { baseLayer.weight }
    /// The base table's tied head (adapters change lookups, not the tied head).
    public func tiedLogits(_ hidden: Variable) -> Variable { baseLayer.tiedLogits(hidden) }

    /// Adds an adapter; `.random` draws both tables from N(0, 1), otherwise A is zero and B N(0, 1).
    public func addAdapter(_ name: String, rank: Int, alpha: Double, rsLoRA: Bool, initialization: LoRAInitialization,
                           generator: inout SeededRandom) {
        precondition(scalings[name] == nil, "LoRAEmbeddingLayer: adapter '\(name)' exists")
        let a: Tensor = initialization == .random ? .randomNormal([rank, count], generator: &generator) : .zeros([rank, count])
        tablesA.registerParameter(name, Variable(a, requiresGrad: true))
        tablesB.registerParameter(name, Variable(.randomNormal([dimension, rank], generator: &generator), requiresGrad: true))
        scalings[name] = LoRAConfig.scaling(rank: rank, alpha: alpha, rsLoRA: rsLoRA)
        adapterNames.append(name)
    }

    /// Removes adapter `name`'s tensors.
    public func deleteAdapter(_ name: String) {
        guard scalings.removeValue(forKey: name) != nil else { return }
        tablesA.removeParameter(name)
        tablesB.removeParameter(name)
        adapterNames.removeAll { $0 == name }
        activeAdapters.removeAll { $0 == name }
    }

    /// Adapter `name`'s tensors under PEFT's keys (without the adapter name).
    public func adapterTensors(_ name: String) -> [(key: String, parameter: Variable)] {
        guard scalings[name] != nil else { return [] }
        return [("lora_embedding_A", tablesA.parameter(name)), ("lora_embedding_B", tablesB.parameter(name))]
    }

    /// PEFT also writes the base table when an embedding is adapted (`save_embedding_layers`).
    public var savedBaseTensors: [(key: String, parameter: Variable)] { [("\(Module.wrappedLayerName).weight", baseLayer.weight)] }

    // ids laid out `shape` → (shape…, dimension)
    /// The base rows plus, for each active adapter, `B·A` rows read by id times the scaling. Under
    /// `AdapterRouting`, each id takes its own sequence's adapter instead.
    public func callAsFunction(_ ids: [Int], shape: [Int]?) throws -> Variable {
        if let adapters = AdapterRouting.rowAdapters(rows: ids.count) { return try routed(ids, shape: shape, adapters: adapters) }
        var result = try baseLayer(ids, shape: shape)
        guard !adaptersDisabled, mergedAdapters.isEmpty else { return result }
        for name in activeAdapters {
            guard let scaling = scalings[name] else { continue }
            let rows = try embedding(tablesA.parameter(name).transposed(), ids: ids, idsShape: shape)  // (…, r)
            result = result + Variable.matmul(rows, tablesB.parameter(name), transposeB: true) * scaling
        }
        return result
    }

    /// The base rows, with each routed adapter's `B·A` rows added to the rows of its sequences.
    private func routed(_ ids: [Int], shape: [Int]?, adapters: [String?]) throws -> Variable {
        let result = try baseLayer(ids, shape: shape)
        var combined = result.value.reshaped([ids.count, dimension])
        var names: [String] = []
        for case let name? in adapters where scalings[name] != nil && !names.contains(name) { names.append(name) }
        for name in names {
            let rows = adapters.indices.filter { adapters[$0] == name }
            let lowRank = try embedding(tablesA.parameter(name).transposed(), ids: rows.map { ids[$0] }, idsShape: nil)
            let updated = Variable(try combined.gatherRows(rows)) + Variable.matmul(lowRank, tablesB.parameter(name), transposeB: true) * scalings[name]!
            combined.setRows(rows, from: updated.value)
        }
        return Variable(combined.reshaped(result.shape))
    }

    /// `s·(B·A)ᵀ` `[count, dimension]`.
    func deltaTable(_ name: String) -> Tensor {
        (Tensor.matmul(tablesB.parameter(name).value, tablesA.parameter(name).value) * scalings[name]!).transposed()
    }

    /// Folds adapters `names` into the base weight; `unmerge()` restores it exactly.
    public func merge(_ names: [String]) throws {
        let names = names.filter { scalings[$0] != nil && !mergedAdapters.contains($0) }
        guard !names.isEmpty else { return }
        if original == nil { original = baseLayer.weight.value }
        for name in names { baseLayer.weight.value += deltaTable(name) }
        mergedAdapters += names
    }

    /// Restores the base weight from before `merge`.
    public func unmerge() throws {
        if let original { baseLayer.weight.value = original }
        original = nil
        mergedAdapters = []
    }
}
