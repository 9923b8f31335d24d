import Foundation
import Tensors

/// Rotary position embedding tables in Hugging Face's split-half convention: element `i` of a head
/// is rotated together with element `i + d/2` by angle `position · base^(−2i/d)`.
///
/// Frequencies and angles are computed in Float32 the way transformers does, so long positions
/// round identically.
public struct RotaryEmbedding: Sendable {
    /// Rotated dimensions per head (even).
    public let dimension: Int
    /// The frequency base θ (10000 for Llama 2, 100000 for SmolLM2).
    public let base: Float
    /// `inverseFrequencies[i] = base^(−2i/d)` for `i < d/2`.
    public let inverseFrequencies: [Float]

    /// Creates the frequency table for heads of `dimension` elements.
    public init(dimension: Int, base: Float = 10_000) {
        precondition(dimension > 0 && dimension % 2 == 0, "RotaryEmbedding: dimension \(dimension) must be positive and even")
        self.dimension = dimension
        self.base = base
        self.inverseFrequencies = (0..<(dimension / 2)).map { i in
            1 / Foundation.pow(base, Float(2 * i) / Float(dimension))
        }
    }

    /// `cos` and `sin` of every angle, each `[positions.count, d/2]`.
    func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let half = dimension / 2
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (t, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(position) * inverseFrequencies[i]
                cosines[t * half + i] = Foundation.cos(angle)
                sines[t * half + i] = Foundation.sin(angle)
            }
        }
        return (cosines, sines)
    }
}

/// Applies rotary position embeddings to `x: (B, H, T, D)` for the given positions (one per `T`).
///
///   y[i]       = x[i]·cos − x[i+d/2]·sin
///   y[i+d/2]   = x[i+d/2]·cos + x[i]·sin
/// Backward is the inverse rotation (angle −θ).
public func applyRotaryEmbedding(_ x: Variable, positions: [Int], rotary: RotaryEmbedding) -> Variable {
    precondition(x.shape.count == 4 && x.shape[3] == rotary.dimension,
                 "applyRotaryEmbedding: x must be (B, H, T, \(rotary.dimension)), got \(x.shape)")
    precondition(positions.count == x.shape[2],
                 "applyRotaryEmbedding: \(positions.count) positions for T = \(x.shape[2])")
    let (cosines, sines) = rotary.tables(positions: positions)
    func rotate(_ input: Tensor, direction: Float) -> Tensor {
        let d = rotary.dimension, half = d / 2, steps = input.shape[2]
        let heads = input.count / (steps * d)
        return Tensor(shape: input.shape) { out in
            input.withUnsafeBufferPointer { p in
                cosines.withUnsafeBufferPointer { cosTable in
                    sines.withUnsafeBufferPointer { sinTable in
                        let (x, y, cs, sn) = (p.baseAddress!, out.baseAddress!, cosTable.baseAddress!, sinTable.baseAddress!)
                        // Rows (head, position) in parallel.
                        Parallel.forEachRange(heads * steps, minimumPerChunk: Swift.max(1, 16_384 / Swift.max(d, 1))) { rows in
                            Tensor.rotateHalves(x, into: y, cosines: cs, sines: sn, rows: rows, steps: steps, half: half, direction: direction)
                        }
                    }
                }
            }
        }
    }
    return Variable.operation("rotaryEmbedding", value: rotate(x.value, direction: 1), inputs: [x]) { g in
        [rotate(g, direction: -1)]
    }
}
