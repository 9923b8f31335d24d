import Autograd
import Tensors

/// Cached keys and values of earlier positions, per layer, stored position-major `(S, B, H, D)`:
/// a new position is appended at the end (amortised O(1), the buffers double their capacity), and
/// attention reads the buffers in place. Nothing already cached is copied when the cache grows.
public final class KeyValueCache {
    var keys: [[Float]]
    var values: [[Float]]
    /// Batch rows, key-value heads and head size, fixed by the first append.
    var layout: (batch: Int, heads: Int, dimension: Int)?
    /// Number of positions already cached.
    public private(set) var length = 0

    /// An empty cache for a model of `layers` blocks.
    public init(layers: Int) {
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
    }

    /// Appends `(B, H, T, D)` keys and values of the next T positions to `layer` and returns every
    /// cached position of that layer for attention.
    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) -> PositionMajorKeysValues {
        precondition(newKeys.rank == 4 && newValues.shape == newKeys.shape,
                     "KeyValueCache: keys \(newKeys.shape) and values \(newValues.shape) must be (B, H, T, D) alike")
        let (b, h, d) = (newKeys.shape[0], newKeys.shape[1], newKeys.shape[3])
        if let layout {
            precondition(layout == (b, h, d), "KeyValueCache: appending (B \(b), H \(h), D \(d)) to a cache of \(layout)")
        } else {
            layout = (b, h, d)
        }
        Self.appendPositionMajor(newKeys, to: &keys[layer])
        Self.appendPositionMajor(newValues, to: &values[layer])
        let positions = keys[layer].count / (b * h * d)
        if layer == keys.count - 1 { length = positions }
        return PositionMajorKeysValues(keys: keys[layer], values: values[layer], length: positions, batch: b, heads: h, dimension: d)
    }

    /// Appends `(B, H, T, D)` as T positions of `(B, H, D)` each.
    static func appendPositionMajor(_ tensor: Tensor, to buffer: inout [Float]) {
        let (b, h, t, d) = (tensor.shape[0], tensor.shape[1], tensor.shape[2], tensor.shape[3])
        if buffer.capacity < buffer.count + tensor.count {
            buffer.reserveCapacity(max(2 * buffer.capacity, buffer.count + tensor.count))
        }
        tensor.withUnsafeBufferPointer { source in
            for position in 0..<t {
                for row in 0..<b {
                    for head in 0..<h {
                        let start = ((row * h + head) * t + position) * d
                        buffer.append(contentsOf: source[start..<(start + d)])
                    }
                }
            }
        }
    }
}
