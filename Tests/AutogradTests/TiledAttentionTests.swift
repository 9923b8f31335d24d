import Testing
@testable import Autograd
import Tensors

/// The tiled attention (long sequences) against the whole-matrix form, for every mask, and by
/// finite differences.
@Suite("Tiled attention")
struct TiledAttentionTests {
    static func input(_ shape: [Int], seed: UInt64) -> Variable {
        var generator = SeededRandom(seed: seed)
        return Variable(Tensor.randomNormal(shape, std: 1, generator: &generator), requiresGrad: true)
    }

    /// The masks of the comparison: name, causal, key mask, segments, window (B = 2, S = T = 150).
    static let masks: [(String, Bool, [Bool]?, [Int]?, Int?)] = {
        let s = 150
        let rightPadded = (0..<2 * s).map { $0 % s < (($0 / s == 0) ? s : 97) }
        let holes = (0..<2 * s).map { $0 % 7 != 3 }
        let oneRowHidden = (0..<2 * s).map { $0 >= s }  // batch row 0 sees no key at all
        let segments = (0..<2 * s).map { ($0 % s) / 40 }
        return [("causal", true, nil, nil, nil), ("causal, right padding", true, rightPadded, nil, nil),
                ("causal, scattered padding", true, holes, nil, nil), ("not causal, padding", false, holes, nil, nil),
                ("packed segments", true, nil, segments, nil), ("sliding window 37", true, nil, nil, 37),
                ("no visible key in a row", false, oneRowHidden, nil, nil)]
    }()

    @Test("tiled = whole-matrix attention (outputs within 1e-5, gradients within 1e-4), with grouped-query heads",
          arguments: 0..<7)
    func tiledEqualsWhole(_ index: Int) {
        let (_, causal, keyMask, segments, window) = Self.masks[index]
        let (b, hkv, group, t, d) = (2, 2, 3, 150, 16)
        let q = Self.input([b, hkv * group, t, d], seed: 1), k = Self.input([b, hkv, t, d], seed: 2), v = Self.input([b, hkv, t, d], seed: 3)
        var generator = SeededRandom(seed: 4)
        let seed = Tensor.randomUniform([b, hkv * group, t, d], low: -1, high: 1, generator: &generator)
        func run(_ tiled: Bool) -> (Tensor, [Tensor]) {
            [q, k, v].forEach { $0.zeroGrad() }
            let out = tiled
                ? tiledScaledDotProductAttention(query: q, key: k, value: v, causal: causal, keyMask: keyMask, segments: segments,
                                                 scale: 0.25, window: window)
                : scaledDotProductAttention(query: q, key: k, value: v, causal: causal, keyMask: keyMask, segments: segments,
                                            scale: 0.25, window: window)
            out.backward(seed: seed)
            return (out.value, [q.grad!, k.grad!, v.grad!])
        }
        let (whole, wholeGradients) = run(false)
        let (tiled, tiledGradients) = run(true)
        let worst = zip(whole.toArray(), tiled.toArray()).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "\(Self.masks[index].0): output differs by \(worst)")
        for (name, (a, b)) in zip(["dq", "dk", "dv"], zip(wholeGradients, tiledGradients)) {
            let difference = zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max()!
            #expect(difference < 1e-4, "\(Self.masks[index].0): \(name) differs by \(difference)")
            #expect(!b.toArray().contains { !$0.isFinite })
        }
    }

    @Test("tiled attention's backward by finite differences (several query and key tiles, causal, grouped heads)")
    func finiteDifferences() {
        let q = Self.input([1, 2, 140, 8], seed: 5), k = Self.input([1, 1, 140, 8], seed: 6), v = Self.input([1, 1, 140, 8], seed: 7)
        let report = GradientChecker.check(inputs: [q, k, v]) { x in
            tiledScaledDotProductAttention(query: x[0], key: x[1], value: x[2], causal: true, keyMask: nil, segments: nil, scale: 0.35, window: nil)
        }
        #expect(report.passed, "\(report)")
        #expect(report.checkedElements > 0)
    }

    @Test("workers that share a kv head add their parts of dQ (one kv head, three key blocks): the whole-matrix gradients")
    func sharedKeyValueHead() {
        let q = Self.input([1, 2, 300, 8], seed: 8), k = Self.input([1, 1, 300, 8], seed: 9), v = Self.input([1, 1, 300, 8], seed: 10)
        var generator = SeededRandom(seed: 11)
        let seed = Tensor.randomUniform([1, 2, 300, 8], low: -1, high: 1, generator: &generator)
        func gradients(_ use: TiledAttention.Use) -> [Tensor] {
            [q, k, v].forEach { $0.zeroGrad() }
            TiledAttention.$use.withValue(use) { scaledDotProductAttention(query: q, key: k, value: v, causal: true).backward(seed: seed) }
            return [q.grad!, k.grad!, v.grad!]
        }
        for (tiled, whole) in zip(gradients(.always), gradients(.never)) {
            #expect(zip(tiled.toArray(), whole.toArray()).map { abs($0 - $1) }.max()! < 1e-4)
        }
    }

    @Test("long sequences take the tiled path; short ones keep the whole-matrix form")
    func pathChoice() {
        #expect(TiledAttention.applies(queries: 512, keys: 512))
        #expect(TiledAttention.applies(queries: 2048, keys: 2048))
        #expect(TiledAttention.applies(queries: 384, keys: 384))
        #expect(!TiledAttention.applies(queries: 256, keys: 256))
        #expect(!TiledAttention.applies(queries: 1, keys: 4096))  // a decoding step
        #expect(TiledAttention.$use.withValue(.always) { TiledAttention.applies(queries: 3, keys: 5) })
        #expect(!TiledAttention.$use.withValue(.never) { TiledAttention.applies(queries: 4096, keys: 4096) })
    }
}
