import Autograd
import Tensors

/// A change to how a LoRA adapter computes and merges its update (Hugging Face PEFT's `LoraVariant`).
///
/// Plain LoRA needs no variant: its forward adds `s·B·A·dropout(x)` and its merge adds `s·B·A`. A
/// variant (DoRA) keeps its own tensors inside the `LoRALayer` and replaces those two steps; the
/// layer calls it through this protocol and names no variant itself.
protocol LoRAVariant: Sendable {
    /// Creates the variant's tensors for adapter `name`, after A and B exist.
    func initialize(_ layer: LoRALayer, adapter name: String)
    /// The variant's tensors of adapter `name` under PEFT's keys relative to the layer.
    func tensors(of layer: LoRALayer, adapter name: String) -> [(key: String, parameter: Variable)]
    /// Removes the variant's tensors of adapter `name`.
    func remove(from layer: LoRALayer, adapter name: String)
    /// The layer's output with adapter `name` applied, given the output so far, the adapter's
    /// (dropped-out) input and its plain update `s·B·A·dropout(x)`.
    func forward(_ layer: LoRALayer, adapter name: String, result: Variable, dropped: Variable, update: Variable) -> Variable
    /// The base weight with adapter `name` folded in, given the weight and the plain delta `s·B·A`.
    func merged(_ layer: LoRALayer, adapter name: String, weight: Tensor, delta: Tensor) -> Tensor
}
