import Autograd
import Tensors

/// A frozen lookup table whose rows stay block-quantized (any `QuantizedMatrix.Format`), as a GGUF file stores
/// `token_embd`: lookups dequantize only the rows they read, and a tied output head multiplies by the
/// packed table with the fused GEMM (forward and input gradient).
///
/// Lookups and tied logits equal those of an `Embedding` holding `table.dequantized()`, bit for bit.
/// The table never trains, and LoRA does not wrap it (load the model in float for adapters on the
/// embedding).
public final class QuantizedEmbedding: Module, EmbeddingLayer {
    /// The packed table `[count, dimension]`.
    public var table: QuantizedMatrix { packedParameter("weight") }

    /// A layer over a packed `[count, dimension]` table.
    public init(table: QuantizedMatrix) {
        super.init()
        registerPackedParameter("weight", table)
    }

    /// Number of rows (ids).
    public var count: Int { table.rows }
    /// Size of each vector.
    public var dimension: Int { table.columns }

    /// The dequantized table as a frozen variable (allocated on each call: prefer lookups and
    /// `tiedLogits`).
    public var weight: Variable { Variable(table.dequantized()) }

    /// The rows of `ids`, shaped `shape + [dimension]` (no gradient: the table is frozen).
    public func callAsFunction(_ ids: [Int], shape: [Int]?) throws -> Variable {
        let shape = shape ?? [ids.count]
        precondition(Shape.elementCount(shape) == ids.count, "QuantizedEmbedding: \(ids.count) ids do not fill shape \(shape)")
        return Variable(try table.dequantizedRows(ids).reshaped(shape + [dimension]))
    }

    /// `hidden · tableᵀ` through the fused quantized GEMM; the backward gives `hidden` the gradient
    /// `dY · table`.
    public func tiedLogits(_ hidden: Variable) -> Variable {
        precondition(hidden.shape.last == dimension, "QuantizedEmbedding: hidden shape \(hidden.shape) does not end in \(dimension)")
        return Variable.matmul(hidden, packed: table)
    }
}
