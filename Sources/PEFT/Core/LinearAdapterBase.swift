import NN

/// What every adapter layer around a `LinearLayer` keeps: the wrapped layer (`base_layer`), its
/// adapters' names, which of them are active, whether adapters are switched off, and the original
/// weight while adapters are merged. Each method's layer subclasses it and adds its own tensors,
/// forward and delta weight.
public class LinearAdapterBase: Module {
    /// The wrapped layer (`base_layer` in checkpoints).
    @Child("base_layer") public var baseLayer: any LinearLayer
    /// Names of the adapters this layer holds, in the order they were added.
    public internal(set) var adapterNames: [String] = []
    /// Adapters applied in forward.
    public var activeAdapters: [String] = []
    /// True inside `withAdaptersDisabled`: forward gives the base output only.
    public var adaptersDisabled = false
    private var mergeState = MergeState()
    /// Adapters folded into the base weight.
    public var mergedAdapters: [String] { mergeState.merged }

    /// Wraps `base` (no adapter yet).
    init(wrapping base: any LinearLayer) {
        super.init()
        registerChild(_baseLayer, base)
    }

    /// The adapters forward applies: the active ones this layer holds; none while switched off or merged.
    var appliedAdapters: [String] {
        guard !adaptersDisabled, mergedAdapters.isEmpty else { return [] }
        return activeAdapters.filter { adapterNames.contains($0) }
    }

    /// Folds each of `names` not yet merged into the base weight with `fold`, after keeping the
    /// original weight so that `unmerge()` restores it bit for bit.
    func merge(_ names: [String], fold: (String) throws -> Void) throws {
        let names = names.filter { adapterNames.contains($0) && !mergedAdapters.contains($0) }
        guard !names.isEmpty else { return }
        try mergeState.willMerge(names, base: baseLayer)
        for name in names { try fold(name) }
    }

    /// Restores the base weight from before `merge`.
    public func unmerge() throws { try mergeState.restore(into: baseLayer) }

    /// Forgets a removed adapter's name.
    func forget(_ name: String) {
        adapterNames.removeAll { $0 == name }
        activeAdapters.removeAll { $0 == name }
    }
}
