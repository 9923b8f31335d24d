import ModelIO
import NN
import Tensors

/// How a loader stores the frozen weights of the transformer blocks' linear layers (attention and
/// MLP projections), and with `.keepGGUF` a quantized token table. Norms stay float.
public enum WeightQuantization: Sendable, Equatable {
    /// Float32 everywhere; a GGUF file's quantized weights are dequantized at load.
    case none
    /// A GGUF file's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K and Q6_K block weights stay packed as stored (`QuantizedLinear`),
    /// and so does a token table in those formats (`QuantizedEmbedding`, which also serves a head
    /// tied to it); other types are dequantized. For a Hugging Face folder this is `.none`.
    case keepGGUF
    /// Float weights (from a folder, or a GGUF dequantized) are quantized to this format at load.
    case quantize(QuantizedMatrix.Format)

    /// The names command lines use: `float`, `gguf`, `q8_0`, `q4_1`, `nf4`.
    public static let names = ["float", "gguf", "q8_0", "q4_1", "nf4"]

    /// The choice a command-line name stands for (nil for any other text).
    public init?(name: String) {
        switch name {
        case "float": self = .none
        case "gguf": self = .keepGGUF
        case "q8_0": self = .quantize(.q8_0)
        case "q4_1": self = .quantize(.q4_1)
        case "nf4": self = .quantize(.nf4)
        default: return nil
        }
    }
}

extension QuantizedMatrix.Format {
    /// The packed format of a GGUF tensor type, if the quantized GEMM reads it.
    init?(gguf type: GGUFTensorType) {
        switch type {
        case .q8_0: self = .q8_0
        case .q4_0: self = .q4_0
        case .q4_1: self = .q4_1
        case .q5_0: self = .q5_0
        case .q5_1: self = .q5_1
        case .q4_K: self = .q4_K
        case .q6_K: self = .q6_K
        default: return nil
        }
    }
}

extension Module {
    /// Replaces every dense `Linear` under the module at `prefix` by a `QuantizedLinear` holding its
    /// weight quantized to `format` (its bias kept in float). A layer whose input size is not a
    /// multiple of the block (32, NF4: 64) stays float, as llama.cpp leaves such tensors unquantized.
    /// - Returns: the paths quantized and the paths left float.
    /// - Throws: `ModelError.invalidConfiguration` naming a layer whose weight holds non-finite
    ///   values (layers before it stay quantized).
    @discardableResult
    public func quantizeLinearLayers(under prefix: String, to format: QuantizedMatrix.Format) throws -> (quantized: [String], keptFloat: [String]) {
        var quantized: [String] = [], keptFloat: [String] = []
        for (path, module) in namedModules() where path.hasPrefix(prefix) {
            guard let linear = module as? Linear else { continue }
            guard linear.inFeatures % format.blockValues == 0 else { keptFloat.append(path); continue }
            let matrix = try Self.quantized(linear.weight.value, to: format, layer: path)
            let replacement = QuantizedLinear(weight: matrix, bias: linear.bias?.value)
            if let bias = replacement.bias, let original = linear.bias { bias.requiresGrad = original.requiresGrad }
            try replaceModule(at: path, with: replacement)
            quantized.append(path)
        }
        return (quantized, keptFloat)
    }

    /// `weight` quantized to `format`.
    /// - Throws: `ModelError.invalidConfiguration` naming `layer` when it cannot be (non-finite values).
    static func quantized(_ weight: Tensor, to format: QuantizedMatrix.Format, layer: String) throws -> QuantizedMatrix {
        do { return try QuantizedMatrix.quantizing(weight, to: format) } catch let error as TensorError {
            throw ModelError.invalidConfiguration(field: layer, reason: "cannot be quantized to \(format.rawValue): \(error.description)")
        }
    }
}
