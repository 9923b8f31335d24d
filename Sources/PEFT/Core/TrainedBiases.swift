import Autograd
import NN

/// Which base-model biases train with an adapter (PEFT's `bias` of LoRA and VeRA: `none`, `all`,
/// `lora_only`/`vera_only`).
enum TrainedBiases {
    /// No bias trains.
    case none
    /// Every bias of the model trains.
    case all
    /// The biases of the layers the adapter wraps train.
    case adaptedLayers

    /// The biases that train with adapter `name`, by path.
    func tensors(_ name: String, model: Module) -> [(key: String, parameter: Variable)] {
        switch self {
        case .none:
            return []
        case .adaptedLayers:
            return model.namedModules().compactMap { path, module in
                guard let layer = module as? any AdapterLayer, layer.adapterNames.contains(name), let bias = layer.baseLayer.bias else { return nil }
                return ("\(path).\(Module.wrappedLayerName).bias", bias)
            }
        case .all:
            return model.namedParameters().filter { path, _ in
                path.hasSuffix(".bias") && !path.contains(".modules_to_save.") && !path.contains(".original_module.")
            }.map { ($0.path, $0.parameter) }
        }
    }
}

extension Injection {
    /// Whether any of `targets` stores its weight `[in, out]` (GPT-2's `Conv1D`): PEFT saves such an
    /// adapter with `fan_in_fan_out: true`.
    static func storesInputsByOutputs(_ targets: [(path: String, module: Module)]) -> Bool {
        targets.contains { ($0.module as? any LinearLayer)?.weightLayout == .inputsByOutputs }
    }
}

extension LoRABias {
    /// The biases this mode trains.
    var trained: TrainedBiases {
        switch self {
        case .none: .none
        case .loraOnly: .adaptedLayers
        case .all: .all
        }
    }
}
