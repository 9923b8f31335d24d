import Autograd
import Tensors

/// DoRA (weight-decomposed LoRA) as a LoRA variant: the adapted weight `W₀ + s·B·A` is split into
/// its direction and a learned magnitude per output row, `lora_magnitude_vector.<adapter>` `[out]`,
/// which starts at the row norms of `W₀ + s·B·A`. As in PEFT, the norm is a constant in backward.
struct DoRA: LoRAVariant {
    func initialize(_ layer: LoRALayer, adapter name: String) {
        let norm = withoutGradients { rowNorms(of: layer.baseLayer.denseWeight() + layer.deltaWeight(name)) }
        layer.magnitudes.registerParameter(name, Variable(norm, requiresGrad: true))
    }

    func tensors(of layer: LoRALayer, adapter name: String) -> [(key: String, parameter: Variable)] {
        [("lora_magnitude_vector", layer.magnitudes.parameter(name))]
    }

    func remove(from layer: LoRALayer, adapter name: String) {
        layer.magnitudes.removeParameter(name)
    }

    /// `m/‖W₀ + s·B·A‖` rescales both the base output and the update.
    func forward(_ layer: LoRALayer, adapter name: String, result: Variable, dropped: Variable, update: Variable) -> Variable {
        let weight = layer.baseLayer.denseWeight()
        let norm = withoutGradients { rowNorms(of: weight + layer.deltaWeight(name)) }
        let scale = layer.magnitudes.parameter(name) / Variable(norm)
        let baseResult: Variable
        if layer.settings[name]!.dropout == 0 || !layer.isTraining {
            baseResult = layer.baseLayer.bias.map { result - $0 } ?? result
        } else {
            // With dropout the base term sees the dropped input, as in PEFT.
            baseResult = Variable.matmul(dropped, Variable(weight), transposeB: true)
        }
        return result + (scale - 1) * baseResult + scale * update
    }

    func merged(_ layer: LoRALayer, adapter name: String, weight: Tensor, delta: Tensor) -> Tensor {
        let factor = layer.magnitudes.parameter(name).value / rowNorms(of: weight + delta)
        return (weight + delta) * factor.reshaped([-1, 1])
    }
}

/// The Euclidean norm of each row of `[rows, columns]`, `[rows]`.
func rowNorms(of matrix: Tensor) -> Tensor {
    (matrix * matrix).sum(axis: 1).squareRoot()
}
