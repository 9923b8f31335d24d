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
    /// `inverseFrequencies[i] = base^(−2i/d)` for `i < d/2` (scaled when the embedding is).
    public let inverseFrequencies: [Float]
    /// LongRoPE's second table and when it applies: a call whose last position is at or past
    /// `after` uses `frequencies` instead (transformers switches per forward pass the same way).
    public let longFrequencies: (frequencies: [Float], after: Int)?
    /// Multiplies every cosine and sine (LongRoPE's attention factor; 1 otherwise).
    public let attentionFactor: Float

    /// Creates the frequency table for heads of `dimension` elements, stretched by `scaling` when given.
    public init(dimension: Int, base: Float = 10_000, scaling: RotaryScaling? = nil) {
        precondition(dimension > 0 && dimension % 2 == 0, "RotaryEmbedding: dimension \(dimension) must be positive and even")
        self.dimension = dimension
        self.base = base
        let plain = (0..<(dimension / 2)).map { i in
            1 / Foundation.pow(base, Float(2 * i) / Float(dimension))
        }
        inverseFrequencies = scaling.map { $0.apply(to: plain) } ?? plain
        if case let .longRoPE(_, long, original, factor)? = scaling {
            longFrequencies = (RotaryScaling.divided(long).apply(to: plain), original)
            attentionFactor = factor
        } else {
            longFrequencies = nil
            attentionFactor = 1
        }
    }

    /// `cos` and `sin` of every angle, each `[positions.count, d/2]`.
    func tables(positions: [Int]) -> (cos: [Float], sin: [Float]) {
        let half = dimension / 2
        var frequencies = inverseFrequencies
        if let long = longFrequencies, let last = positions.max(), last + 1 > long.after { frequencies = long.frequencies }
        var cosines = [Float](repeating: 0, count: positions.count * half)
        var sines = cosines
        for (t, position) in positions.enumerated() {
            for i in 0..<half {
                let angle = Float(position) * frequencies[i]
                cosines[t * half + i] = Foundation.cos(angle)
                sines[t * half + i] = Foundation.sin(angle)
                if attentionFactor != 1 {
                    cosines[t * half + i] *= attentionFactor
                    sines[t * half + i] *= attentionFactor
                }
            }
        }
        return (cosines, sines)
    }
}

/// How a model stretches rotary frequencies for contexts longer than it was trained on
/// (transformers' `rope_scaling` / `rope_parameters`). Computed in Float32 as transformers does.
public enum RotaryScaling: Sendable, Equatable {
    /// `"linear"`: every inverse frequency divided by `factor` (positions compressed by it).
    case linear(factor: Float)
    /// `"llama3"` (Llama 3.1/3.2): long wavelengths divided by `factor`, short ones kept, the band
    /// between `originalContext / lowFrequencyFactor` and `originalContext / highFrequencyFactor`
    /// interpolated smoothly.
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int)
    /// Each inverse frequency divided by its own factor (a GGUF's `rope_freqs` tensor, which llama.cpp's
    /// converter precomputes for `llama3` scaling).
    case divided([Float])
    /// `"longrope"` (Phi-3 128k, Phi-4-mini): per-frequency factors, `short` while a forward pass stays
    /// within `originalContext` positions and `long` beyond, with cosines and sines multiplied by
    /// `attentionFactor`. `apply(to:)` gives the short table; `RotaryEmbedding` keeps the long one too.
    case longRoPE(short: [Float], long: [Float], originalContext: Int, attentionFactor: Float)

    /// The scaled inverse frequencies.
    public func apply(to inverseFrequencies: [Float]) -> [Float] {
        switch self {
        case let .linear(factor):
            return inverseFrequencies.map { $0 / factor }
        case let .divided(factors), let .longRoPE(factors, _, _, _):
            precondition(factors.count == inverseFrequencies.count, "RotaryScaling: \(factors.count) factors for \(inverseFrequencies.count) frequencies")
            return zip(inverseFrequencies, factors).map { $0 / $1 }
        case let .llama3(factor, low, high, original):
            let context = Float(original)
            let lowWavelength = context / low, highWavelength = context / high
            return inverseFrequencies.map { frequency in
                let wavelength = 2 * Float.pi / frequency
                let scaled = wavelength > lowWavelength ? frequency / factor : frequency
                guard !(wavelength < highWavelength) && !(wavelength > lowWavelength) else { return scaled }
                let smooth = (context / wavelength - low) / (high - low)
                return (1 - smooth) * scaled / factor + smooth * scaled
            }
        }
    }
}

/// Applies rotary position embeddings to `x: (B, H, T, D)` for the given positions (one per `T`).
///
///   y[i]       = x[i]·cos − x[i+d/2]·sin
///   y[i+d/2]   = x[i+d/2]·cos + x[i]·sin      (d = rotary.dimension)
/// Backward is the inverse rotation (angle −θ). With partial rotary (`rotary.dimension < D`, Phi-3's
/// `partial_rotary_factor`), only the first `d` elements of each head rotate; the rest pass through.
public func applyRotaryEmbedding(_ x: Variable, positions: [Int], rotary: RotaryEmbedding) -> Variable {
    if x.shape.count == 4 && rotary.dimension < x.shape[3] {
        let head = x.shape[3]
        let rotated = applyRotaryEmbedding(x.slice(axis: 3, 0..<rotary.dimension), positions: positions, rotary: rotary)
        return Variable.concatenate([rotated, x.slice(axis: 3, rotary.dimension..<head)], axis: 3)
    }
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
