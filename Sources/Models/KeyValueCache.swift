import Autograd
import Tensors

/// Cached keys and values of earlier positions, per layer, stored position-major `(S, B, H, D)`:
/// a new position is appended at the end (amortised O(1), the buffers double their capacity), and
/// attention reads the buffers in place. Nothing already cached is copied when the cache grows.
///
/// A layer with a sliding window keeps only the positions its queries can still see: before an
/// append, keys that are out of reach of every coming query are dropped once at least `window` of
/// them have piled up, so such a layer holds fewer than `2·window + T` positions however long the
/// sequence grows (the memory of a long generation stops growing on those layers).
public final class KeyValueCache {
    var keys: [[Float]]
    var values: [[Float]]
    /// Positions dropped from the front of each layer (sliding layers only).
    var dropped: [Int]
    /// Batch rows, key-value heads and head size, fixed by the first append.
    var layout: (batch: Int, heads: Int, dimension: Int)?
    /// Number of positions already seen (cached or dropped from a sliding layer).
    public private(set) var length = 0

    /// An empty cache for a model of `layers` blocks.
    public init(layers: Int) {
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
        dropped = Array(repeating: 0, count: layers)
    }

    /// Positions layer `layer` holds now (all of them, or the retained tail of a sliding layer).
    public func retainedPositions(layer: Int) -> Int {
        guard let layout else { return 0 }
        return keys[layer].count / (layout.batch * layout.heads * layout.dimension)
    }

    /// What attention reads after an append: the retained keys and values, and how many positions
    /// were dropped before them.
    struct Retained {
        /// The layer's retained keys and values.
        let keysValues: PositionMajorKeysValues
        /// Positions dropped before the first retained one.
        let dropped: Int

        /// A `B·S` key mask over every position seen, cut to the retained positions (nil stays nil).
        func keyMask(_ mask: [Bool]?) -> [Bool]? {
            guard let mask, dropped > 0 else { return mask }
            let b = keysValues.batch, total = mask.count / b
            return (0..<b).flatMap { row in mask[(row * total + dropped)..<((row + 1) * total)] }
        }
    }

    /// Appends `(B, H, T, D)` keys and values of the next T positions to `layer` and returns every
    /// retained position of that layer for attention. With a `window`, positions no query from now
    /// on can see are dropped first (in batches of at least `window`).
    func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor, window: Int? = nil) -> Retained {
        precondition(newKeys.rank == 4 && newValues.shape == newKeys.shape,
                     "KeyValueCache: keys \(newKeys.shape) and values \(newValues.shape) must be (B, H, T, D) alike")
        let (b, h, d) = (newKeys.shape[0], newKeys.shape[1], newKeys.shape[3])
        if let layout {
            precondition(layout == (b, h, d), "KeyValueCache: appending (B \(b), H \(h), D \(d)) to a cache of \(layout)")
        } else {
            layout = (b, h, d)
        }
        let width = b * h * d
        if let window {
            // The first new query sits at position `seen`; it (and every later one) sees keys from seen − window + 1 on.
            let seen = dropped[layer] + keys[layer].count / width
            let unreachable = seen - window + 1 - dropped[layer]
            if unreachable >= window {
                keys[layer].removeFirst(unreachable * width)
                values[layer].removeFirst(unreachable * width)
                dropped[layer] += unreachable
            }
        }
        Self.appendPositionMajor(newKeys, to: &keys[layer])
        Self.appendPositionMajor(newValues, to: &values[layer])
        let positions = keys[layer].count / width
        if layer == keys.count - 1 { length = dropped[layer] + positions }
        return Retained(keysValues: PositionMajorKeysValues(keys: keys[layer], values: values[layer], length: positions, batch: b, heads: h, dimension: d),
                        dropped: dropped[layer])
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
