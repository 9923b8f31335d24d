import Foundation
import Tensors

/// Attention for long sequences, computed in tiles with an online softmax (the scheme of
/// FlashAttention-2): no `[T, S]` score or probability matrix is ever formed, and what the backward
/// pass keeps is the output and one log-sum-exp per query row, so memory grows linearly with T.
///
/// Forward, per query head and block of `queryBlock` rows, over blocks of `keyBlock` keys:
///   S = Q·Kᵀ·scale (masked to −∞), m' = max(m, rowmax S), P = e^(S − m'),
///   l ← l·e^(m − m') + rowsum P, O ← O·e^(m − m') + P·V;  at the end O /= l, L = m + log l.
/// Backward, per kv head and key block (the query heads that read it, every query block):
///   P = e^(S − L), dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O))·scale,
///   dQ += dS·K, dK += dSᵀ·Q.
/// Tiles no query sees (above the causal diagonal, outside a sliding window) are skipped. The
/// result equals the whole-matrix form up to summation order (the tests hold them within 1e-5).
public enum TiledAttention {
    /// Query rows per tile.
    public static let queryBlock = 64
    /// Keys per tile.
    public static let keyBlock = 128

    /// Keys from which the automatic choice takes the tiled path.
    public static let minimumKeys = 384

    /// When `scaledDotProductAttention` takes the tiled path.
    public enum Use: Sendable {
        /// From `minimumKeys` keys and `queryBlock` queries on, where the whole-matrix form's
        /// `B·H·T·S` probabilities (kept for the backward pass) start to dominate memory; shorter
        /// sequences and decoding steps keep the whole-matrix form.
        case automatic
        /// Always (comparisons, tests).
        case always
        /// Never: every length uses the whole-matrix form.
        case never
    }

    /// The choice in effect (default `.automatic`); bind another for a comparison, as
    /// `Benchmarks/AttentionBenchmark` does.
    @TaskLocal public static var use = Use.automatic

    /// True when `scaledDotProductAttention` takes the tiled path for `queries` × `keys`.
    public static func applies(queries: Int, keys: Int) -> Bool {
        switch use {
        case .automatic: keys >= minimumKeys && queries >= queryBlock
        case .always: true
        case .never: false
        }
    }
}

/// Which keys each query sees: the causal mask, a sliding window, key padding and packed segments.
struct AttentionVisibility {
    let queries: Int, keys: Int
    let causal: Bool
    let window: Int?
    let keyMask: [Bool]?
    let segments: [Int]?

    /// The last key `row` may see (causal), or the last key.
    @inline(__always) func lastKey(_ row: Int) -> Int { causal ? row + (keys - queries) : keys - 1 }
    /// The first key `row` may see (sliding window), or 0.
    @inline(__always) func firstKey(_ row: Int) -> Int { window.map { max(0, row + (keys - queries) - $0 + 1) } ?? 0 }

    /// Whether query `row` of `batch` sees key `col`.
    @inline(__always) func sees(batch: Int, row: Int, col: Int) -> Bool {
        col <= lastKey(row) && col >= firstKey(row) && (keyMask?[batch * keys + col] ?? true)
            && (segments.map { $0[batch * keys + col] == $0[batch * keys + row] } ?? true)
    }

    /// What a tile of query rows `rows` and keys `cols` holds: nothing visible, everything visible,
    /// or a mix (then each score is checked).
    enum Tile { case hidden, whole, partial }

    func tile(batch: Int, rows: Range<Int>, cols: Range<Int>) -> Tile {
        if cols.lowerBound > lastKey(rows.upperBound - 1) || cols.upperBound - 1 < firstKey(rows.lowerBound) { return .hidden }
        let inside = cols.upperBound - 1 <= lastKey(rows.lowerBound) && cols.lowerBound >= firstKey(rows.upperBound - 1)
        guard inside, segments == nil else { return .partial }
        if let keyMask, keyMask[(batch * keys + cols.lowerBound)..<(batch * keys + cols.upperBound)].contains(false) { return .partial }
        return .whole
    }

    /// Sets the hidden scores of a tile to −∞.
    func mask(_ scores: UnsafeMutablePointer<Float>, batch: Int, rows: Range<Int>, cols: Range<Int>, stride: Int) {
        for (i, row) in rows.enumerated() {
            let line = scores + i * stride
            for (j, col) in cols.enumerated() where !sees(batch: batch, row: row, col: col) { line[j] = -.infinity }
        }
    }
}

/// The tiled forward pass: writes `output` (B, Hq, T, D) and `logSumExp` (B, Hq, T; −∞ for a query
/// that sees no key, whose output is zeros).
func tiledAttentionForward(_ l: AttentionLayout, query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                           visibility: AttentionVisibility, scale: Float,
                           output: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>) {
    let (hq, hkv, t, s, d) = (l.queryHeads, l.keyValueHeads, l.queries, l.keys, l.dimension)
    let group = hq / hkv
    let br = TiledAttention.queryBlock, bc = TiledAttention.keyBlock
    let blocks = (t + br - 1) / br
    let address = (query: UInt(bitPattern: query), keys: UInt(bitPattern: keys), values: UInt(bitPattern: values),
                   output: UInt(bitPattern: output), lse: UInt(bitPattern: logSumExp))
    Parallel.forEachRange(l.batch * hq * blocks) { range in
        var scoresBuffer = [Float](repeating: 0, count: br * bc)
        var maxima = [Float](repeating: 0, count: br), sums = [Float](repeating: 0, count: br)
        scoresBuffer.withUnsafeMutableBufferPointer { scoresPointer in
            let scores = scoresPointer.baseAddress!
            for task in range {
                let block = task % blocks, head = task / blocks  // head counts over batch × query heads
                let batch = head / hq
                let kvBase = (batch * hkv + head % hq / group) * s * d
                let rows = (block * br)..<min(t, block * br + br)
                let q = UnsafePointer<Float>(bitPattern: address.query)! + (head * t + rows.lowerBound) * d
                let out = UnsafeMutablePointer<Float>(bitPattern: address.output)! + (head * t + rows.lowerBound) * d
                let lse = UnsafeMutablePointer<Float>(bitPattern: address.lse)! + head * t + rows.lowerBound
                out.update(repeating: 0, count: rows.count * d)
                for i in 0..<rows.count { (maxima[i], sums[i]) = (-.infinity, 0) }
                for start in stride(from: 0, to: s, by: bc) {
                    let cols = start..<min(s, start + bc)
                    let tile = visibility.tile(batch: batch, rows: rows, cols: cols)
                    if tile == .hidden { continue }
                    let k = UnsafePointer<Float>(bitPattern: address.keys)! + kvBase + start * d
                    let v = UnsafePointer<Float>(bitPattern: address.values)! + kvBase + start * d
                    GEMM.sgemm(transposeA: false, transposeB: true, m: rows.count, n: cols.count, k: d, alpha: scale,
                               a: q, lda: d, b: k, ldb: d, c: scores, ldc: bc)
                    if tile == .partial { visibility.mask(scores, batch: batch, rows: rows, cols: cols, stride: bc) }
                    for i in 0..<rows.count {
                        let line = scores + i * bc
                        var rowMax = -Float.infinity
                        for j in 0..<cols.count { rowMax = max(rowMax, line[j]) }
                        let newMax = max(maxima[i], rowMax)
                        guard newMax > -.infinity else {
                            line.update(repeating: 0, count: cols.count)  // nothing visible yet in this row
                            continue
                        }
                        let sum = Tensor.exponentiateShifted(line, count: cols.count, shift: newMax)
                        let correction = maxima[i] == -.infinity ? 0 : Foundation.exp(maxima[i] - newMax)
                        sums[i] = sums[i] * correction + sum
                        maxima[i] = newMax
                        if correction != 1 {
                            let o = out + i * d
                            for c in 0..<d { o[c] *= correction }
                        }
                    }
                    GEMM.sgemm(transposeA: false, transposeB: false, m: rows.count, n: d, k: cols.count,
                               a: scores, lda: bc, b: v, ldb: d, beta: 1, c: out, ldc: d)
                }
                for i in 0..<rows.count {
                    guard sums[i] > 0 else {
                        lse[i] = -.infinity
                        continue
                    }
                    let inverse = 1 / sums[i]
                    let o = out + i * d
                    for c in 0..<d { o[c] *= inverse }
                    lse[i] = maxima[i] + Foundation.log(sums[i])
                }
            }
        }
    }
}

/// The tiled backward pass: `dq`, `dk`, `dv` (each written whole, when not nil) from the output's
/// gradient `g`, recomputing each tile's probabilities from `logSumExp`.
func tiledAttentionBackward(_ l: AttentionLayout, query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                            output: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                            visibility: AttentionVisibility, scale: Float,
                            dq: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>?, dv: UnsafeMutablePointer<Float>?) {
    let (hq, hkv, t, s, d) = (l.queryHeads, l.keyValueHeads, l.queries, l.keys, l.dimension)
    let group = hq / hkv
    let br = TiledAttention.queryBlock, bc = TiledAttention.keyBlock
    let queryBlocks = (t + br - 1) / br, keyBlocks = (s + bc - 1) / bc
    let queryCount = l.batch * hq * t

    // rowsum(dO ⊙ O) per query row.
    var deltas = [Float](repeating: 0, count: queryCount)
    deltas.withUnsafeMutableBufferPointer { delta in
        for row in 0..<queryCount {
            var total: Float = 0
            for c in 0..<d { total += gradient[row * d + c] * output[row * d + c] }
            delta[row] = total
        }
    }
    // One task per (batch, kv head, key block): it owns its rows of dK and dV. The key blocks of a
    // head are visited light and heavy in turn (0, n−1, 1, n−2, …) so that contiguous ranges of tasks
    // carry similar causal work. dQ gathers contributions from every key block: each range of tasks
    // adds into a partial of its own covering only the query heads of its kv heads (consecutive:
    // kv head j of batch b is read by query heads (b·Hkv + j)·group ..< +group), summed at the end,
    // so the partials together hold about one dQ plus one kv group per worker.
    let tasks = l.batch * hkv * keyBlocks
    let chunks = max(1, min(Parallel.threadCount, tasks))
    let rowsPerKVHead = group * t
    /// The first kv head (over batch × kv heads) of a chunk's tasks, and one past its last.
    func kvHeads(_ chunk: Int) -> Range<Int> {
        let first = tasks * chunk / chunks, end = tasks * (chunk + 1) / chunks
        return end > first ? (first / keyBlocks)..<((end - 1) / keyBlocks + 1) : 0..<0
    }
    var partials = [[Float]](repeating: [], count: dq == nil ? 0 : chunks)
    let address = (query: UInt(bitPattern: query), keys: UInt(bitPattern: keys), values: UInt(bitPattern: values),
                   lse: UInt(bitPattern: logSumExp), gradient: UInt(bitPattern: gradient),
                   dk: dk.map { UInt(bitPattern: $0) }, dv: dv.map { UInt(bitPattern: $0) })
    deltas.withUnsafeBufferPointer { deltaBuffer in
        let deltaAddress = UInt(bitPattern: deltaBuffer.baseAddress!)
        partials.withUnsafeMutableBufferPointer { partialSlots in
            let slots = UInt(bitPattern: partialSlots.baseAddress)
            let needQ = dq != nil
            Parallel.forEach(chunks: chunks) { chunk in
                let covered = kvHeads(chunk)
                let partialBase = covered.lowerBound * rowsPerKVHead * d  // the partial's first element within dQ
                var dqPartial = needQ ? [Float](repeating: 0, count: covered.count * rowsPerKVHead * d) : []
                var scoresBuffer = [Float](repeating: 0, count: 2 * br * bc)
                var dKeyBuffer = [Float](repeating: 0, count: bc * d), dValueBuffer = [Float](repeating: 0, count: bc * d)
                let first = tasks * chunk / chunks, end = tasks * (chunk + 1) / chunks
                scoresBuffer.withUnsafeMutableBufferPointer { scoresPointer in
                    let p = scoresPointer.baseAddress!, dp = p + br * bc
                    for task in first..<end {
                        let order = task % keyBlocks, head = task / keyBlocks  // head counts over batch × kv heads
                        let keyBlock = order % 2 == 0 ? order / 2 : keyBlocks - 1 - order / 2
                        let batch = head / hkv
                        let cols = (keyBlock * bc)..<min(s, keyBlock * bc + bc)
                        let kvOffset = head * s * d + cols.lowerBound * d
                        let k = UnsafePointer<Float>(bitPattern: address.keys)! + kvOffset
                        let v = UnsafePointer<Float>(bitPattern: address.values)! + kvOffset
                        for index in 0..<(cols.count * d) { (dKeyBuffer[index], dValueBuffer[index]) = (0, 0) }
                        for queryHead in (batch * hq + head % hkv * group)..<(batch * hq + head % hkv * group + group) {
                            for block in 0..<queryBlocks {
                                let rows = (block * br)..<min(t, block * br + br)
                                let tile = visibility.tile(batch: batch, rows: rows, cols: cols)
                                if tile == .hidden { continue }
                                let rowBase = queryHead * t + rows.lowerBound
                                let q = UnsafePointer<Float>(bitPattern: address.query)! + rowBase * d
                                let dOut = UnsafePointer<Float>(bitPattern: address.gradient)! + rowBase * d
                                let lse = UnsafePointer<Float>(bitPattern: address.lse)! + rowBase
                                let delta = UnsafePointer<Float>(bitPattern: deltaAddress)! + rowBase
                                // P = e^(S − L), hidden scores exactly 0.
                                GEMM.sgemm(transposeA: false, transposeB: true, m: rows.count, n: cols.count, k: d, alpha: scale,
                                           a: q, lda: d, b: k, ldb: d, c: p, ldc: bc)
                                if tile == .partial { visibility.mask(p, batch: batch, rows: rows, cols: cols, stride: bc) }
                                for i in 0..<rows.count {
                                    if lse[i] == -.infinity {
                                        (p + i * bc).update(repeating: 0, count: cols.count)
                                    } else {
                                        Tensor.exponentiateShifted(p + i * bc, count: cols.count, shift: lse[i])
                                    }
                                }
                                dValueBuffer.withUnsafeMutableBufferPointer { dvb in
                                    GEMM.sgemm(transposeA: true, transposeB: false, m: cols.count, n: d, k: rows.count,
                                               a: p, lda: bc, b: dOut, ldb: d, beta: 1, c: dvb.baseAddress!, ldc: d)
                                }
                                // dS = P ⊙ (dO·Vᵀ − delta) · scale, in place of dP.
                                GEMM.sgemm(transposeA: false, transposeB: true, m: rows.count, n: cols.count, k: d,
                                           a: dOut, lda: d, b: v, ldb: d, c: dp, ldc: bc)
                                for i in 0..<rows.count {
                                    let pi = p + i * bc, di = dp + i * bc, shift = delta[i]
                                    for j in 0..<cols.count { di[j] = pi[j] * (di[j] - shift) * scale }
                                }
                                if needQ {
                                    dqPartial.withUnsafeMutableBufferPointer { dqp in
                                        GEMM.sgemm(transposeA: false, transposeB: false, m: rows.count, n: d, k: cols.count,
                                                   a: dp, lda: bc, b: k, ldb: d, beta: 1, c: dqp.baseAddress! + rowBase * d - partialBase, ldc: d)
                                    }
                                }
                                dKeyBuffer.withUnsafeMutableBufferPointer { dkb in
                                    GEMM.sgemm(transposeA: true, transposeB: false, m: cols.count, n: d, k: rows.count,
                                               a: dp, lda: bc, b: q, ldb: d, beta: 1, c: dkb.baseAddress!, ldc: d)
                                }
                            }
                        }
                        if let dk = address.dk.flatMap({ UnsafeMutablePointer<Float>(bitPattern: $0) }) {
                            (dk + kvOffset).update(from: dKeyBuffer, count: cols.count * d)
                        }
                        if let dv = address.dv.flatMap({ UnsafeMutablePointer<Float>(bitPattern: $0) }) {
                            (dv + kvOffset).update(from: dValueBuffer, count: cols.count * d)
                        }
                    }
                }
                if needQ { UnsafeMutablePointer<[Float]>(bitPattern: slots)![chunk] = dqPartial }
            }
        }
    }
    guard let dq else { return }
    // dQ: the partials' sum, in chunk order (neighbouring chunks share at most one kv head's rows).
    let total = queryCount * d
    let dqAddress = UInt(bitPattern: dq)
    Parallel.forEachRange(total, minimumPerChunk: 4096) { range in
        let target = UnsafeMutablePointer<Float>(bitPattern: dqAddress)!
        target.advanced(by: range.lowerBound).update(repeating: 0, count: range.count)
        for chunk in 0..<partials.count {
            let base = kvHeads(chunk).lowerBound * rowsPerKVHead * d
            let overlap = max(range.lowerBound, base)..<min(range.upperBound, base + partials[chunk].count)
            guard !overlap.isEmpty else { continue }
            partials[chunk].withUnsafeBufferPointer { part in
                for index in overlap { target[index] += part[index - base] }
            }
        }
    }
}

/// `scaledDotProductAttention` on the tiled path (see `TiledAttention`); same arguments.
func tiledScaledDotProductAttention(query q: Variable, key k: Variable, value v: Variable, causal: Bool, keyMask: [Bool]?,
                                    segments: [Int]?, scale: Float, window: Int?) -> Variable {
    let (b, hq, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (hkv, s) = (k.shape[1], k.shape[2])
    let layout = AttentionLayout(batch: b, queryHeads: hq, queries: t, keyValueHeads: hkv, keys: s, dimension: d)
    let visibility = AttentionVisibility(queries: t, keys: s, causal: causal, window: window, keyMask: keyMask, segments: segments)
    let qv = q.value, kv = k.value, vv = v.value
    var output = Tensor(shape: [b, hq, t, d]) { _ in }
    var logSumExp = Tensor(shape: [b, hq, t]) { _ in }
    output.withUnsafeMutableBufferPointer { po in
        logSumExp.withUnsafeMutableBufferPointer { pl in
            qv.withUnsafeBufferPointer { pq in
                kv.withUnsafeBufferPointer { pk in
                    vv.withUnsafeBufferPointer { pv in
                        tiledAttentionForward(layout, query: pq.baseAddress!, keys: pk.baseAddress!, values: pv.baseAddress!,
                                              visibility: visibility, scale: scale, output: po.baseAddress!, logSumExp: pl.baseAddress!)
                    }
                }
            }
        }
    }
    let saved = (output: output, logSumExp: logSumExp)
    return Variable.operation("attention", value: output, inputs: [q, k, v]) { g in
        let needQ = q.requiresGrad, needK = k.requiresGrad, needV = v.requiresGrad
        var dq: Tensor? = needQ ? Tensor(shape: q.shape) { _ in } : nil
        var dk: Tensor? = needK ? Tensor(shape: k.shape) { _ in } : nil
        var dv: Tensor? = needV ? Tensor(shape: v.shape) { _ in } : nil
        guard needQ || needK || needV else { return [nil, nil, nil] }
        Tensor.withOptionalMutablePointer(&dq) { pdq in
            Tensor.withOptionalMutablePointer(&dk) { pdk in
                Tensor.withOptionalMutablePointer(&dv) { pdv in
                    g.withUnsafeBufferPointer { pg in
                        saved.output.withUnsafeBufferPointer { po in
                            saved.logSumExp.withUnsafeBufferPointer { pl in
                                qv.withUnsafeBufferPointer { pq in
                                    kv.withUnsafeBufferPointer { pk in
                                        vv.withUnsafeBufferPointer { pv in
                                            tiledAttentionBackward(layout, query: pq.baseAddress!, keys: pk.baseAddress!, values: pv.baseAddress!,
                                                                   output: po.baseAddress!, logSumExp: pl.baseAddress!, gradient: pg.baseAddress!,
                                                                   visibility: visibility, scale: scale, dq: pdq, dk: pdk, dv: pdv)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return [dq, dk, dv]
    }
}

