import Autograd
import Foundation
import NN
import Tensors

/// AdaLoRA's training hooks, as PEFT's `RankAllocator` and `AdaLoraModel` do them: the
/// orthogonality penalty, and after every optimizer step the sensitivity update and the budgeted
/// pruning of singular triplets, recorded in the configuration's `rank_pattern`.
final class AdaLoRAAllocator: AdapterTrainingHooks {
    private var configuration: AdaLoRAConfig
    private let adapter: String
    /// The adapter's layers by module path, in path order.
    private let layers: [(path: String, layer: AdaLoRALayer)]
    private let store: (any AdapterConfiguration) -> Void
    /// Smoothed sensitivity and uncertainty of every element of A, B and E, by `<path>.<A|B|E>`.
    private var averageImportance: [String: Tensor] = [:]
    private var averageUncertainty: [String: Tensor] = [:]

    init(configuration: AdaLoRAConfig, adapter: String, model: Module, store: @escaping (any AdapterConfiguration) -> Void) {
        self.configuration = configuration
        self.adapter = adapter
        self.layers = model.namedModules().compactMap { entry in
            (entry.module as? AdaLoRALayer).flatMap { $0.adapterNames.contains(adapter) ? (entry.path, $0) : nil }
        }
        self.store = store
    }

    /// The starting budget: every layer's current rank.
    private var initialBudget: Int { layers.reduce(0) { $0 + $1.layer.settings[adapter]!.rank } }
    /// The final budget: `target_r` per layer.
    private var targetBudget: Int { configuration.targetRank * layers.count }
    private var totalSteps: Int { configuration.totalSteps ?? 0 }

    // MARK: Orthogonality

    /// `orth_reg_weight` times the mean over A and B of ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F.
    func regularization() -> Variable? {
        guard configuration.orthogonalityWeight > 0, !layers.isEmpty else { return nil }
        var terms: [Variable] = []
        for (_, layer) in layers {
            let (a, _, b) = layer.factors(adapter)
            guard a.shape[0] > 0 else { continue }
            for gram in [Variable.matmul(a, a, transposeB: true), Variable.matmul(b, b, transposeA: true)] {
                let size = gram.shape[0]
                let identity = Variable(Tensor((0..<size * size).map { $0 % (size + 1) == 0 ? 1 : 0 }, shape: [size, size]))
                terms.append((gram - identity).squared().sum().squareRoot())
            }
        }
        guard let first = terms.first else { return nil }
        let sum = terms.dropFirst().reduce(first, +)
        return sum * Float(configuration.orthogonalityWeight / Double(terms.count))
    }

    // MARK: Allocation

    /// PEFT's `update_and_allocate(step)`.
    func afterOptimizerStep(_ step: Int) throws {
        let boundary = totalSteps - configuration.finalSteps
        if step < boundary {
            updateImportance()
            let (budget, masks) = schedule(step)
            if masks { mask(to: budget) }
        } else if step == boundary {
            mask(to: schedule(step).budget)
            averageImportance = [:]
            averageUncertainty = [:]
        } else {
            reapplyPattern()
        }
    }

    /// The budget at `step` and whether to reallocate then (PEFT's `budget_schedule`).
    func schedule(_ step: Int) -> (budget: Int, masks: Bool) {
        let start = configuration.initialSteps, end = totalSteps - configuration.finalSteps
        if step <= start { return (initialBudget, false) }
        if step > end { return (targetBudget, true) }
        let remaining = 1 - Double(step - start) / Double(end - start)
        let budget = Int(Double(initialBudget - targetBudget) * remaining * remaining * remaining + Double(targetBudget))
        return (budget, step % configuration.allocationInterval == 0)
    }

    /// Sensitivity |p·∂L/∂p| of every element, smoothed by β1, and its uncertainty, smoothed by β2.
    private func updateImportance() {
        let beta1 = Float(configuration.beta1), beta2 = Float(configuration.beta2)
        let rest1 = Float(1 - configuration.beta1), rest2 = Float(1 - configuration.beta2)
        for (path, layer) in layers {
            let (a, e, b) = layer.factors(adapter)
            for (key, parameter) in [("A", a), ("B", b), ("E", e)] {
                let name = "\(path).\(key)"
                let importance = (parameter.value * (parameter.grad ?? .zeros(parameter.shape))).abs()
                let average = averageImportance[name] ?? .zeros(parameter.shape)
                let uncertainty = averageUncertainty[name] ?? .zeros(parameter.shape)
                let newAverage = average * beta1 + importance * rest1
                averageImportance[name] = newAverage
                averageUncertainty[name] = uncertainty * beta2 + (importance - newAverage).abs() * rest2
            }
        }
    }

    /// Each triplet's score: its E element's, plus the row means of A's and column means of B's.
    private func scores() -> [(path: String, scores: [Float])] {
        layers.map { path, layer in
            func score(_ key: String) -> Tensor {
                let name = "\(path).\(key)"
                let shape = layer.factors(adapter).a.shape
                guard let average = averageImportance[name], let uncertainty = averageUncertainty[name] else {
                    return .zeros(key == "A" ? shape : key == "E" ? [shape[0], 1] : [layer.outFeatures, shape[0]])
                }
                return average * uncertainty
            }
            let fromA = score("A").mean(axis: 1).toArray(), fromB = score("B").mean(axis: 0).toArray(), fromE = score("E").toArray()
            return (path, fromE.indices.map { fromE[$0] + (fromA[$0] + fromB[$0]) })
        }
    }

    /// Zeroes the triplets scoring at or below the `(initial − budget)`-th smallest score (PEFT's
    /// `mask_to_budget`), and records what each layer keeps.
    private func mask(to budget: Int) {
        let all = scores()
        let pruned = initialBudget - budget
        let threshold: Float
        if pruned > 0 {
            let sorted = all.flatMap(\.scores).sorted()
            threshold = sorted[min(pruned, sorted.count) - 1]
        } else {
            threshold = -.infinity  // nothing to prune (PEFT's kthvalue would refuse k = 0)
        }
        var pattern: [(module: String, kept: [Bool])] = []
        for ((path, layer), (_, scores)) in zip(layers, all) {
            let keep = scores.map { $0 > threshold }
            apply(keep, to: layer)
            pattern.append((path + ".lora_E", keep))
        }
        configuration.rankPattern = pattern
        store(configuration)
    }

    /// After the final allocation: the recorded pattern zeroed again (the optimizer moves pruned values).
    private func reapplyPattern() {
        guard let pattern = configuration.rankPattern else { return }
        for (path, layer) in layers {
            if let keep = pattern.first(where: { $0.module == path + ".lora_E" })?.kept { apply(keep, to: layer) }
        }
    }

    private func apply(_ keep: [Bool], to layer: AdaLoRALayer) {
        let e = layer.factors(adapter).e
        guard keep.count == e.shape[0] else { return }
        e.value = Tensor(zip(e.value.toArray(), keep).map { $1 ? $0 : 0 }, shape: e.shape)
        layer.kept[adapter] = keep
    }

    // MARK: Checkpoints

    /// The smoothed scores and the kept masks (as 0/1), by name.
    func checkpointState() -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        for (name, value) in averageImportance { state["importance.\(name)"] = value }
        for (name, value) in averageUncertainty { state["uncertainty.\(name)"] = value }
        for (path, layer) in layers { if let keep = layer.kept[adapter] { state["kept.\(path)"] = Tensor(keep.map { $0 ? 1 : 0 }, shape: [keep.count]) } }
        return state
    }

    /// Puts the scores and masks back, and the rank pattern they describe.
    func restoreCheckpointState(_ state: [String: Tensor]) throws {
        var importance: [String: Tensor] = [:], uncertainty: [String: Tensor] = [:]
        var pattern: [(module: String, kept: [Bool])] = []
        for (key, value) in state {
            if key.hasPrefix("importance.") { importance[String(key.dropFirst("importance.".count))] = value }
            else if key.hasPrefix("uncertainty.") { uncertainty[String(key.dropFirst("uncertainty.".count))] = value }
            else if key.hasPrefix("kept.") {
                let path = String(key.dropFirst("kept.".count))
                guard let layer = layers.first(where: { $0.path == path })?.layer, value.count == layer.settings[adapter]!.rank else {
                    throw PEFTError.invalidState("the AdaLoRA mask for '\(path)' does not fit the adapter")
                }
                let keep = value.toArray().map { $0 != 0 }
                layer.kept[adapter] = keep
                pattern.append((path + ".lora_E", keep))
            }
        }
        averageImportance = importance
        averageUncertainty = uncertainty
        if !pattern.isEmpty {
            configuration.rankPattern = pattern.sorted { $0.module < $1.module }
            store(configuration)
        }
    }
}
