import Autograd
import NN
import Tensors

/// The adapter each sequence of a batch runs with, so that one forward pass serves sequences of
/// different adapters and of the base model together (S-LoRA's and Punica's idea): every layer
/// computes its base product once for all rows, then each adapter's rows are gathered, take that
/// adapter's step (for LoRA two thin products) and are put back.
///
/// Bind it around inference: `AdapterRouting.$sequenceAdapters.withValue(["support", nil, "legal"]) { … }`
/// (task-local). Sequence `i` runs with adapter `sequenceAdapters[i]` (nil: the base model); the
/// rows of the activations map to sequences through `SequenceRows.current` (nil: row `i` is
/// sequence `i`, or every row is the only sequence's). While it is bound, layers ignore their active adapters. Check an adapter with
/// `PeftModel.routingRefusal(for:)` first: a merged adapter or one with embedding layers cannot be
/// routed. Inference only (no dropout, no gradients through the routing).
public enum AdapterRouting {
    /// The adapter of each sequence (nil: the base model), or nil when no routing is bound.
    @TaskLocal public static var sequenceAdapters: [String?]? = nil

    /// The adapter of each of `rows` activation rows under the bound routing, or nil when none is bound.
    static func rowAdapters(rows: Int) -> [String?]? {
        guard let adapters = sequenceAdapters else { return nil }
        if let sequences = SequenceRows.current {
            precondition(sequences.count == rows, "AdapterRouting: \(rows) activation rows but \(sequences.count) row sequences are bound")
            return sequences.map { adapters[$0] }
        }
        if adapters.count == 1 { return Array(repeating: adapters[0], count: rows) }  // one sequence: every row is its
        precondition(adapters.count == rows, "AdapterRouting: \(rows) activation rows but \(adapters.count) sequences are bound")
        return adapters
    }

    /// The rows of each adapter in `held` among `rows` activation rows, in order of first
    /// appearance (rows of other adapters or none are in no group), or nil when no routing is bound.
    static func groups(rows: Int, held: [String]) -> [(name: String, rows: [Int])]? {
        guard let adapters = rowAdapters(rows: rows) else { return nil }
        var groups: [(name: String, rows: [Int])] = []
        for (row, adapter) in adapters.enumerated() {
            guard let adapter, held.contains(adapter) else { continue }
            if let index = groups.firstIndex(where: { $0.name == adapter }) { groups[index].rows.append(row) } else { groups.append((adapter, [row])) }
        }
        return groups
    }

    /// A routed layer's output, or nil when no routing is bound: `base(x)` for every row, then for
    /// each adapter in `held` its rows replaced by `apply(adapter, thoseRowsOfX, thoseRowsOfBase)`.
    /// Rows of other adapters (or none) keep the base output. Each row is computed as a pass of that
    /// row's sequence alone would compute it.
    static func output(_ x: Variable, held: [String], base: (Variable) -> Variable,
                       apply: (String, Variable, Variable) -> Variable) -> Variable? {
        let width = x.shape.last ?? 1
        let rows = x.value.count / Swift.max(width, 1)
        guard let groups = groups(rows: rows, held: held) else { return nil }
        let result = base(x)
        guard !groups.isEmpty else { return result }
        if groups.count == 1 && groups[0].rows.count == rows { return apply(groups[0].name, x, result) }
        let outWidth = result.shape.last ?? 1
        let inputs = x.value.reshaped([rows, width])
        let baseRows = result.value.reshaped([rows, outWidth])
        var combined = baseRows
        for group in groups {
            // Indices come from 0..<rows: gathering cannot fail.
            let routed = apply(group.name, Variable(try! inputs.gatherRows(group.rows)), Variable(try! baseRows.gatherRows(group.rows)))
            combined.setRows(group.rows, from: routed.value)
        }
        return Variable(combined.reshaped(result.shape))
    }
}

extension AdapterRouting {
    /// `output` for an additive adapter step: `update(adapter, rows of x)` gives the step's product
    /// for those rows and its scale, added into the base output as `result + product * scale`
    /// (rounded as the layer's own forward rounds it), without the graph of `Variable` operations.
    /// Nil when no routing is bound.
    static func additiveOutput(_ x: Variable, held: [String], base: (Variable) -> Variable,
                               update: (String, Tensor) -> (product: Tensor, scale: Float)) -> Variable? {
        let width = x.shape.last ?? 1
        let rows = x.value.count / Swift.max(width, 1)
        guard let groups = groups(rows: rows, held: held) else { return nil }
        let result = base(x)
        guard !groups.isEmpty else { return result }
        let inputs = x.value.reshaped([rows, width])
        var combined = result.value.reshaped([rows, result.shape.last ?? 1])
        for group in groups {
            // Indices come from 0..<rows: gathering cannot fail.
            let (product, scale) = update(group.name, group.rows.count == rows ? inputs : try! inputs.gatherRows(group.rows))
            combined.addRows(group.rows, from: product, scaledBy: scale)
        }
        return Variable(combined.reshaped(result.shape))
    }
}

extension LinearAdapterBase {
    /// `AdapterRouting.output` for this layer: the base layer's product for every row, then each
    /// held adapter's `apply` on its rows. Nil when no routing is bound.
    func routedOutput(_ x: Variable, apply: (String, Variable, Variable) -> Variable) -> Variable? {
        guard AdapterRouting.sequenceAdapters != nil else { return nil }
        return AdapterRouting.output(x, held: adapterNames, base: { baseLayer($0) }, apply: apply)
    }
}
