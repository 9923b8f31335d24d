/// The factor shapes LoKr gives one `[out, in]` layer, computed as PEFT computes them.
struct LoKrShapes: Equatable {
    /// `out = out1 · out2`, `in = in1 · in2`.
    var out1: Int, out2: Int, in1: Int, in2: Int
    /// `W1` is stored whole (`lokr_w1`), not as `lokr_w1_a · lokr_w1_b`.
    var wholeW1: Bool
    /// `W2` is stored whole (`lokr_w2`), not as `lokr_w2_a · lokr_w2_b`.
    var wholeW2: Bool

    init(inFeatures: Int, outFeatures: Int, rank: Int, decomposeBoth: Bool, factor: Int) {
        (out1, out2) = Self.factorization(outFeatures, factor: factor)
        (in1, in2) = Self.factorization(inFeatures, factor: factor)
        // PEFT compares r with half the larger side in floating point.
        wholeW1 = !(decomposeBoth && Double(rank) < Double(max(out1, in1)) / 2)
        wholeW2 = !(Double(rank) < Double(max(out2, in2)) / 2)
    }

    /// The trainable values of one adapter of rank `rank`.
    func count(rank: Int) -> Int {
        (wholeW1 ? out1 * in1 : rank * (out1 + in1)) + (wholeW2 ? out2 * in2 : rank * (out2 + in2))
    }

    /// Splits `dimension` into `(m, n)`, `m·n = dimension`, as LyCORIS does: `m = factor` when it
    /// divides; otherwise the divisor pair nearest the square root with `m` at most `factor` (-1: no
    /// limit), smaller first.
    static func factorization(_ dimension: Int, factor: Int) -> (Int, Int) {
        if factor > 0 && dimension % factor == 0 { return (factor, dimension / factor) }
        let limit = factor == -1 ? dimension : factor
        var m = 1, n = dimension
        let length = m + n
        while m < n {
            var candidate = m + 1
            while dimension % candidate != 0 { candidate += 1 }
            let other = dimension / candidate
            if candidate + other > length || candidate > limit { break }
            (m, n) = (candidate, other)
        }
        return m > n ? (n, m) : (m, n)
    }
}
