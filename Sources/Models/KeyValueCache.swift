import Tensors

/// Cached keys and values of earlier positions, per layer: `(B, Hkv, S, D)`.
public final class KeyValueCache {
    var keys: [Tensor?]
    var values: [Tensor?]
    /// Number of positions already cached.
    public private(set) var length = 0

    /// An empty cache for a model of `layers` blocks.
    public init(layers: Int) {
        keys = Array(repeating: nil, count: layers)
        values = Array(repeating: nil, count: layers)
    }

    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) -> (Tensor, Tensor) {
        let k = keys[layer].map { Tensor.concatenate([$0, newKeys], axis: 2) } ?? newKeys
        let v = values[layer].map { Tensor.concatenate([$0, newValues], axis: 2) } ?? newValues
        keys[layer] = k
        values[layer] = v
        if layer == keys.count - 1 { length = k.shape[2] }
        return (k, v)
    }
}
