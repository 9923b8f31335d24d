import Foundation
import Tensors

/// Scaled dot-product attention with grouped-query heads, an optional causal mask and an optional
/// key padding mask.
///
///   q: (B, Hq, T, D)   k, v: (B, Hkv, S, D)   Hq a multiple of Hkv (query head h reads kv head h / (Hq/Hkv))
///   out: (B, Hq, T, D) = softmax(q·kᵀ·scale + mask) · v
///
/// - causal: query `t` sees keys `s ≤ t + (S − T)` (queries are the last T of S positions, as with a KV cache).
/// - keyMask: `B·S` flags, true where the key is real, false for padding. A query with no visible key
///   outputs zeros.
/// - segments: `B·S` ids of packed sequences (needs S = T): a query sees only keys of its own segment,
///   so several examples share a row without attending to each other.
/// - window: sliding-window attention (Mistral, Gemma's local layers): a query at position `p` sees
///   only keys at positions `k` with `p − k < window`, itself included (the query's position is its
///   row plus S − T, as for the causal mask; only distances matter, so a cache that dropped older keys
///   needs no offset).
///
/// Backward (per head, P the probabilities):
///   dV = Pᵀ·dO    dP = dO·Vᵀ    dS = P ⊙ (dP − rowsum(dP ⊙ P))    dQ = dS·K·scale    dK = dSᵀ·Q·scale
/// Each kv head and the query heads that read it run as one task, in parallel with the others.
///
/// From 384 keys on (`TiledAttention.applies`), the tiled form runs instead: the same function
/// without the `[T, S]` probabilities, memory linear in T.
public func scaledDotProductAttention(query q: Variable, key k: Variable, value v: Variable,
                                      causal: Bool, keyMask: [Bool]? = nil, segments: [Int]? = nil, scale: Float? = nil,
                                      window: Int? = nil) -> Variable {
    precondition(q.shape.count == 4 && k.shape.count == 4 && v.shape == k.shape,
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape) must be (B, H, T, D) with k and v alike")
    let (b, hq, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (hkv, s) = (k.shape[1], k.shape[2])
    precondition(k.shape[0] == b && k.shape[3] == d && hkv > 0 && hq % hkv == 0,
                 "attention: k \(k.shape) does not fit q \(q.shape) (batch, head dim, or heads not a multiple)")
    precondition(!causal || s >= t, "attention: causal attention needs S ≥ T, got S = \(s), T = \(t)")
    if let keyMask { precondition(keyMask.count == b * s, "attention: key mask has \(keyMask.count) flags for B·S = \(b * s)") }
    if let segments { precondition(segments.count == b * s && s == t, "attention: \(segments.count) segment ids for B·S = \(b * s) (and S must equal T)") }
    precondition(window.map { $0 > 0 } ?? true, "attention: window \(window!) must be positive")
    let group = hq / hkv
    let scale = scale ?? 1 / Float(d).squareRoot()
    if TiledAttention.applies(queries: t, keys: s) {
        // Long sequences: tiles and an online softmax, memory linear in T (see `TiledAttention`).
        return tiledScaledDotProductAttention(query: q, key: k, value: v, causal: causal, keyMask: keyMask, segments: segments,
                                              scale: scale, window: window)
    }
    let qv = q.value, kv = k.value, vv = v.value

    // Every element is written by a product (no zero fill: a serial pass over each).
    var probabilities = Tensor(shape: [b, hq, t, s]) { _ in }
    var output = Tensor(shape: [b, hq, t, d]) { _ in }
    probabilities.withUnsafeMutableBufferPointer { pp in
        output.withUnsafeMutableBufferPointer { po in
            qv.withUnsafeBufferPointer { pq in
                kv.withUnsafeBufferPointer { pk in
                    vv.withUnsafeBufferPointer { pv in
                        let layout = AttentionLayout(batch: b, queryHeads: hq, queries: t, keyValueHeads: hkv, keys: s, dimension: d)
                        attentionForward(layout, query: pq.baseAddress!, keys: pk.baseAddress!, values: pv.baseAddress!,
                                         keyOffset: { batch, head in (batch * hkv + head) * s * d }, keyStride: d,
                                         causal: causal, keyMask: keyMask, segments: segments, scale: scale, window: window,
                                         probabilities: pp.baseAddress!, output: po.baseAddress!)
                    }
                }
            }
        }
    }

    let probs = probabilities
    return Variable.operation("attention", value: output, inputs: [q, k, v]) { g in
        // Each gradient that is returned is written whole by its products (one per kv group).
        var dq = Tensor(shape: q.shape) { _ in }, dk = Tensor(shape: k.shape) { _ in }, dv = Tensor(shape: v.shape) { _ in }
        let needQ = q.requiresGrad, needK = k.requiresGrad, needV = v.requiresGrad
        dq.withUnsafeMutableBufferPointer { pdq in
            dk.withUnsafeMutableBufferPointer { pdk in
                dv.withUnsafeMutableBufferPointer { pdv in
                    g.withUnsafeBufferPointer { pg in
                        probs.withUnsafeBufferPointer { pp in
                            qv.withUnsafeBufferPointer { pq in
                                kv.withUnsafeBufferPointer { pk in
                                    vv.withUnsafeBufferPointer { pv in
                                        let a = (UInt(bitPattern: pdq.baseAddress), UInt(bitPattern: pdk.baseAddress),
                                                 UInt(bitPattern: pdv.baseAddress), UInt(bitPattern: pg.baseAddress),
                                                 UInt(bitPattern: pp.baseAddress), UInt(bitPattern: pq.baseAddress),
                                                 UInt(bitPattern: pk.baseAddress), UInt(bitPattern: pv.baseAddress))
                                        // One task per (batch, kv head): the `group` query heads that read it are
                                        // consecutive in every (B, H, T, ·) tensor, so each product runs once on
                                        // their rows stacked (group·T of them) instead of once per head.
                                        let rows = group * t
                                        Parallel.forEachRange(b * hkv) { range in
                                            var dScores = [Float](repeating: 0, count: rows * s)
                                            for bkv in range {
                                                let kvOffset = bkv * s * d
                                                let keys = UnsafePointer<Float>(bitPattern: a.6)! + kvOffset
                                                let values = UnsafePointer<Float>(bitPattern: a.7)! + kvOffset
                                                let dKeys = UnsafeMutablePointer<Float>(bitPattern: a.1)! + kvOffset
                                                let dValues = UnsafeMutablePointer<Float>(bitPattern: a.2)! + kvOffset
                                                let firstHead = bkv / hkv * hq + bkv % hkv * group
                                                let p = UnsafePointer<Float>(bitPattern: a.4)! + firstHead * t * s
                                                let dOut = UnsafePointer<Float>(bitPattern: a.3)! + firstHead * t * d
                                                let query = UnsafePointer<Float>(bitPattern: a.5)! + firstHead * t * d
                                                if needV {
                                                    // dV = Σ over the group's heads of Pᵀ·dO.
                                                    GEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: rows,
                                                               a: p, lda: s, b: dOut, ldb: d, c: dValues, ldc: d)
                                                }
                                                guard needQ || needK else { continue }
                                                dScores.withUnsafeMutableBufferPointer { ds in
                                                    let dsp = ds.baseAddress!
                                                    GEMM.sgemm(transposeA: false, transposeB: true, m: rows, n: s, k: d,
                                                               a: dOut, lda: d, b: values, ldb: d, c: dsp, ldc: s)
                                                    Tensor.softmaxBackwardRows(probabilities: p, gradients: dsp, rows: rows, columns: s, scale: scale)
                                                    if needQ {
                                                        let dQuery = UnsafeMutablePointer<Float>(bitPattern: a.0)! + firstHead * t * d
                                                        GEMM.sgemm(transposeA: false, transposeB: false, m: rows, n: d, k: s,
                                                                   a: dsp, lda: s, b: keys, ldb: d, c: dQuery, ldc: d)
                                                    }
                                                    if needK {
                                                        // dK = Σ over the group's heads of dSᵀ·Q.
                                                        GEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: rows,
                                                                   a: dsp, lda: s, b: query, ldb: d, c: dKeys, ldc: d)
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [needQ ? dq : nil, needK ? dk : nil, needV ? dv : nil]
    }
}

/// Sizes of one attention call.
struct AttentionLayout {
    let batch: Int, queryHeads: Int, queries: Int, keyValueHeads: Int, keys: Int, dimension: Int
}

/// The forward pass shared by both key layouts: for each (batch, kv head), scores = q·kᵀ·scale for the
/// rows of the query heads that read it (consecutive heads, so their rows are one stacked matrix),
/// masked softmax, then P·v. Keys and values of (batch, kv head) start at `keyOffset(batch, head)`,
/// one position every `keyStride` floats. Groups run in parallel when a chunk holds at least 16 k
/// multiply-adds (the pool starts a region within a microsecond, so a decoding step splits too).
func attentionForward(_ l: AttentionLayout, query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                      keyOffset: (Int, Int) -> Int, keyStride: Int, causal: Bool, keyMask: [Bool]?, segments: [Int]?,
                      scale: Float, window: Int? = nil, probabilities: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
    let (hq, hkv, t, s, d) = (l.queryHeads, l.keyValueHeads, l.queries, l.keys, l.dimension)
    let group = hq / hkv, rows = group * t
    // Per batch row, the number of real keys when its key mask is a run of real keys followed only by
    // padding (right padding: the visible keys of every query are then a prefix), or nil.
    let realPrefix: [Int?] = (0..<l.batch).map { batch in
        guard segments == nil else { return nil }
        guard let keyMask else { return s }
        let row = keyMask[(batch * s)..<((batch + 1) * s)]
        let real = row.firstIndex(of: false).map { $0 - batch * s } ?? s
        return row.dropFirst(real).contains(true) ? nil : real
    }
    Parallel.forEachRange(l.batch * hkv, minimumPerChunk: max(1, 16_384 / max(1, rows * s * d))) { range in
        for bkv in range {
            let batch = bkv / hkv, kvHead = bkv % hkv
            let firstHead = batch * hq + kvHead * group
            let probs = probabilities + firstHead * t * s
            let out = output + firstHead * t * d
            let offset = keyOffset(batch, kvHead)
            GEMM.sgemm(transposeA: false, transposeB: true, m: rows, n: s, k: d, alpha: scale,
                       a: query + firstHead * t * d, lda: d, b: keys + offset, ldb: keyStride, c: probs, ldc: s)
            for stacked in 0..<rows {
                let row = stacked % t
                let p = probs + stacked * s
                let limit = causal ? row + (s - t) : s - 1
                // The query's position is row + (S − T); with a window, keys before `first` are out of reach.
                let first = window.map { max(0, row + (s - t) - $0 + 1) } ?? 0
                if let real = realPrefix[batch] {
                    // Keys first...limit are visible, of the first `real`.
                    let end = min(limit + 1, real)
                    if first > 0 {
                        for col in 0..<min(first, s) { p[col] = 0 }
                        if first < s { Tensor.softmaxPrefix(p + first, count: s - first, visible: end - first) }
                    } else {
                        Tensor.softmaxPrefix(p, count: s, visible: end)
                    }
                    continue
                }
                // Any other mask: hidden scores become −∞ (so exactly 0), and the row's softmax is taken
                // whole; a query that sees no key gets zeros.
                var anyVisible = false
                for col in 0..<s {
                    if col <= limit && col >= first && (keyMask?[batch * s + col] ?? true)
                        && (segments.map { $0[batch * s + col] == $0[batch * s + row] } ?? true) {
                        anyVisible = true
                    } else {
                        p[col] = -.infinity
                    }
                }
                Tensor.softmaxPrefix(p, count: s, visible: anyVisible ? s : 0)
            }
            GEMM.sgemm(transposeA: false, transposeB: false, m: rows, n: d, k: s,
                       a: probs, lda: s, b: values + offset, ldb: keyStride, c: out, ldc: d)
        }
    }
}

/// Keys and values of earlier positions laid out position-major, `(S, B, H, D)`: the layout a
/// growing cache appends to without moving what it holds.
public struct PositionMajorKeysValues {
    /// `S·B·H·D` keys.
    public let keys: [Float]
    /// `S·B·H·D` values.
    public let values: [Float]
    /// Positions `S`.
    public let length: Int
    /// Batch rows `B`.
    public let batch: Int
    /// Key-value heads `H`.
    public let heads: Int
    /// Size of each head `D`.
    public let dimension: Int

    /// Wraps buffers of `length · batch · heads · dimension` floats each.
    public init(keys: [Float], values: [Float], length: Int, batch: Int, heads: Int, dimension: Int) {
        precondition(keys.count == length * batch * heads * dimension && values.count == keys.count,
                     "PositionMajorKeysValues: \(keys.count) keys and \(values.count) values for S·B·H·D = \(length)·\(batch)·\(heads)·\(dimension)")
        (self.keys, self.values, self.length, self.batch, self.heads, self.dimension) = (keys, values, length, batch, heads, dimension)
    }
}

/// `scaledDotProductAttention` over cached keys and values in position-major layout, read in place
/// (no transpose, no copy): the decode path of a key-value cache. Same arithmetic as the
/// `(B, H, S, D)` form, bit for bit. Inference only: no gradient flows into the cache or the query.
public func scaledDotProductAttention(query q: Variable, cached kv: PositionMajorKeysValues, causal: Bool,
                                      keyMask: [Bool]? = nil, scale: Float? = nil, window: Int? = nil) -> Variable {
    precondition(q.shape.count == 4 && q.shape[0] == kv.batch && q.shape[3] == kv.dimension && kv.heads > 0 && q.shape[1] % kv.heads == 0,
                 "attention: q \(q.shape) does not fit cached keys (B \(kv.batch), H \(kv.heads), D \(kv.dimension))")
    let (b, hq, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (hkv, s) = (kv.heads, kv.length)
    precondition(!causal || s >= t, "attention: causal attention needs S ≥ T, got S = \(s), T = \(t)")
    if let keyMask { precondition(keyMask.count == b * s, "attention: key mask has \(keyMask.count) flags for B·S = \(b * s)") }
    let scale = scale ?? 1 / Float(d).squareRoot()
    var probabilities = Tensor(shape: [b, hq, t, s]) { _ in }
    var output = Tensor(shape: [b, hq, t, d]) { _ in }
    probabilities.withUnsafeMutableBufferPointer { pp in
        output.withUnsafeMutableBufferPointer { po in
            q.value.withUnsafeBufferPointer { pq in
                kv.keys.withUnsafeBufferPointer { pk in
                    kv.values.withUnsafeBufferPointer { pv in
                        let layout = AttentionLayout(batch: b, queryHeads: hq, queries: t, keyValueHeads: hkv, keys: s, dimension: d)
                        attentionForward(layout, query: pq.baseAddress!, keys: pk.baseAddress!, values: pv.baseAddress!,
                                         keyOffset: { batch, head in (batch * hkv + head) * d }, keyStride: b * hkv * d,
                                         causal: causal, keyMask: keyMask, segments: nil, scale: scale, window: window,
                                         probabilities: pp.baseAddress!, output: po.baseAddress!)
                    }
                }
            }
        }
    }
    return Variable(output)
}
