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
///
/// Backward (per head, P the probabilities):
///   dV = Pᵀ·dO    dP = dO·Vᵀ    dS = P ⊙ (dP − rowsum(dP ⊙ P))    dQ = dS·K·scale    dK = dSᵀ·Q·scale
/// Heads run in parallel; gradients of a shared kv head are accumulated by one worker.
public func scaledDotProductAttention(query q: Variable, key k: Variable, value v: Variable,
                                      causal: Bool, keyMask: [Bool]? = nil, segments: [Int]? = nil, scale: Float? = nil) -> Variable {
    precondition(q.shape.count == 4 && k.shape.count == 4 && v.shape == k.shape,
                 "attention: q \(q.shape), k \(k.shape), v \(v.shape) must be (B, H, T, D) with k and v alike")
    let (b, hq, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (hkv, s) = (k.shape[1], k.shape[2])
    precondition(k.shape[0] == b && k.shape[3] == d && hkv > 0 && hq % hkv == 0,
                 "attention: k \(k.shape) does not fit q \(q.shape) (batch, head dim, or heads not a multiple)")
    precondition(!causal || s >= t, "attention: causal attention needs S ≥ T, got S = \(s), T = \(t)")
    if let keyMask { precondition(keyMask.count == b * s, "attention: key mask has \(keyMask.count) flags for B·S = \(b * s)") }
    if let segments { precondition(segments.count == b * s && s == t, "attention: \(segments.count) segment ids for B·S = \(b * s) (and S must equal T)") }
    let group = hq / hkv
    let scale = scale ?? 1 / Float(d).squareRoot()
    let qv = q.value, kv = k.value, vv = v.value

    var probabilities = Tensor.zeros([b, hq, t, s])
    var output = Tensor.zeros([b, hq, t, d])
    probabilities.withUnsafeMutableBufferPointer { pp in
        output.withUnsafeMutableBufferPointer { po in
            qv.withUnsafeBufferPointer { pq in
                kv.withUnsafeBufferPointer { pk in
                    vv.withUnsafeBufferPointer { pv in
                        let addresses = (UInt(bitPattern: pp.baseAddress), UInt(bitPattern: po.baseAddress),
                                         UInt(bitPattern: pq.baseAddress), UInt(bitPattern: pk.baseAddress),
                                         UInt(bitPattern: pv.baseAddress))
                        // Heads in parallel when each is worth a wake-up (not for one decode position).
                        Parallel.forEachRange(b * hq, minimumPerChunk: max(1, 65_536 / max(1, t * s * d))) { range in
                            for bh in range {
                                let batch = bh / hq, head = bh % hq, kvHead = head / group
                                let probs = UnsafeMutablePointer<Float>(bitPattern: addresses.0)! + bh * t * s
                                let out = UnsafeMutablePointer<Float>(bitPattern: addresses.1)! + bh * t * d
                                let query = UnsafePointer<Float>(bitPattern: addresses.2)! + bh * t * d
                                let kvOffset = (batch * hkv + kvHead) * s * d
                                let keys = UnsafePointer<Float>(bitPattern: addresses.3)! + kvOffset
                                let values = UnsafePointer<Float>(bitPattern: addresses.4)! + kvOffset
                                GEMM.sgemm(transposeA: false, transposeB: true, m: t, n: s, k: d, alpha: scale,
                                           a: query, lda: d, b: keys, ldb: d, c: probs, ldc: s)
                                for row in 0..<t {
                                    let p = probs + row * s
                                    let limit = causal ? row + (s - t) : s - 1
                                    var maximum = -Float.infinity
                                    var anyVisible = false
                                    for col in 0..<s {
                                        let visible = col <= limit && (keyMask?[batch * s + col] ?? true)
                                            && (segments.map { $0[batch * s + col] == $0[batch * s + row] } ?? true)
                                        if visible {
                                            anyVisible = true
                                            // NaN scores must reach the output (not read as a masked row).
                                            maximum = p[col].isNaN ? p[col] : max(maximum, p[col])
                                        } else {
                                            p[col] = -.infinity
                                        }
                                    }
                                    if !anyVisible {
                                        p.update(repeating: 0, count: s)
                                        continue
                                    }
                                    // Masked scores are −∞ and become exactly 0.
                                    let total = Tensor.exponentiateShifted(p, count: s, shift: maximum)
                                    let inv = 1 / total
                                    for col in 0..<s { p[col] *= inv }
                                }
                                GEMM.sgemm(transposeA: false, transposeB: false, m: t, n: d, k: s,
                                           a: probs, lda: s, b: values, ldb: d, c: out, ldc: d)
                            }
                        }
                    }
                }
            }
        }
    }

    let probs = probabilities
    return Variable.operation("attention", value: output, inputs: [q, k, v]) { g in
        var dq = Tensor.zeros(q.shape), dk = Tensor.zeros(k.shape), dv = Tensor.zeros(v.shape)
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
                                        Parallel.forEachRange(b * hkv) { range in
                                            var dScores = [Float](repeating: 0, count: t * s)
                                            for bkv in range {
                                                let kvOffset = bkv * s * d
                                                let keys = UnsafePointer<Float>(bitPattern: a.6)! + kvOffset
                                                let values = UnsafePointer<Float>(bitPattern: a.7)! + kvOffset
                                                let dKeys = UnsafeMutablePointer<Float>(bitPattern: a.1)! + kvOffset
                                                let dValues = UnsafeMutablePointer<Float>(bitPattern: a.2)! + kvOffset
                                                let batch = bkv / hkv, kvHead = bkv % hkv
                                                for head in (kvHead * group)..<((kvHead + 1) * group) {
                                                    let bh = batch * hq + head
                                                    let p = UnsafePointer<Float>(bitPattern: a.4)! + bh * t * s
                                                    let dOut = UnsafePointer<Float>(bitPattern: a.3)! + bh * t * d
                                                    let query = UnsafePointer<Float>(bitPattern: a.5)! + bh * t * d
                                                    if needV {
                                                        GEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: t,
                                                                   a: p, lda: s, b: dOut, ldb: d, beta: 1, c: dValues, ldc: d)
                                                    }
                                                    guard needQ || needK else { continue }
                                                    dScores.withUnsafeMutableBufferPointer { ds in
                                                        let dsp = ds.baseAddress!
                                                        GEMM.sgemm(transposeA: false, transposeB: true, m: t, n: s, k: d,
                                                                   a: dOut, lda: d, b: values, ldb: d, c: dsp, ldc: s)
                                                        for row in 0..<t {
                                                            var dot: Float = 0
                                                            for col in 0..<s { dot += dsp[row * s + col] * p[row * s + col] }
                                                            for col in 0..<s {
                                                                dsp[row * s + col] = p[row * s + col] * (dsp[row * s + col] - dot) * scale
                                                            }
                                                        }
                                                        if needQ {
                                                            let dQuery = UnsafeMutablePointer<Float>(bitPattern: a.0)! + bh * t * d
                                                            GEMM.sgemm(transposeA: false, transposeB: false, m: t, n: d, k: s,
                                                                       a: dsp, lda: s, b: keys, ldb: d, c: dQuery, ldc: d)
                                                        }
                                                        if needK {
                                                            GEMM.sgemm(transposeA: true, transposeB: false, m: s, n: d, k: t,
                                                                       a: dsp, lda: s, b: query, ldb: d, beta: 1, c: dKeys, ldc: d)
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
        }
        return [needQ ? dq : nil, needK ? dk : nil, needV ? dv : nil]
    }
}
