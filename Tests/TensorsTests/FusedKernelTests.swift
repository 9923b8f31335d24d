import Foundation
import Testing
import Tensors

/// The vectorised kernels against Float64 references, at their edge cases, and for any thread count.
@Suite("Fused kernels", .serialized)
struct FusedKernelTests {
    /// Relative error of `value` against `reference` in units of Float's epsilon.
    static func ulps(_ value: Float, _ reference: Double) -> Double {
        abs(Double(value) - reference) / (abs(reference) * Double(Float.ulpOfOne))
    }

    @Test("exp is within 3 ulp on [−87, 88]; −∞ and very negative give 0, large gives +∞, NaN stays NaN")
    func exponential() {
        let grid = stride(from: -87.0, through: 88.5, by: 0.00731).map(Float.init) + [0, -0, 1e-30, -1e-30, 1, -1]
        let values = Tensor(grid).exp()
        var worst = 0.0
        for (x, e) in zip(grid, values.toArray()) { worst = max(worst, Self.ulps(e, Foundation.exp(Double(x)))) }
        #expect(worst <= 3, "worst error \(worst) ulp")
        let edges = Tensor([-.infinity, -88, -1000, 89, 1000, .infinity, .nan, 0]).exp().toArray()
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 0)
        #expect(edges[3] == .infinity && edges[4] == .infinity && edges[5] == .infinity)
        #expect(edges[6].isNaN && edges[7] == 1)
    }

    @Test("exponentiateShifted: softmax rows sum to 1, masked (−∞) entries become exactly 0")
    func shiftedRows() {
        var row: [Float] = [1, 2, -.infinity, 3, 0.5, -.infinity, 2, 2, 1, 0, -3]
        let total = row.withUnsafeMutableBufferPointer { Tensor.exponentiateShifted($0.baseAddress!, count: $0.count, shift: 3) }
        let reference = [1.0, 2, 3, 0.5, 2, 2, 1, 0, -3].map { Foundation.exp($0 - 3) }.reduce(0, +)
        #expect(abs(Double(total) - reference) < 1e-6)
        #expect(row[2] == 0 && row[5] == 0 && row[3] == 1)
    }

    @Test("elementwise + − × ÷ (tensor and scalar, and +=) equal Swift's scalar operators bit for bit")
    func binaryArithmetic() {
        var generator = SeededRandom(seed: 8)
        // 70,003 elements: split across workers, with a tail that is not a multiple of 8; and a short one.
        for count in [70_003, 13] {
            let a = Tensor.randomNormal([count], std: 2, generator: &generator)
            let b = Tensor.randomNormal([count], generator: &generator) + 3
            let (x, y) = (a.toArray(), b.toArray())
            #expect((a + b).toArray() == zip(x, y).map { $0 + $1 })
            #expect((a - b).toArray() == zip(x, y).map { $0 - $1 })
            #expect((a * b).toArray() == zip(x, y).map { $0 * $1 })
            #expect((a / b).toArray() == zip(x, y).map { $0 / $1 })
            #expect((a + 0.3).toArray() == x.map { $0 + 0.3 } && (a - 0.3).toArray() == x.map { $0 - 0.3 })
            #expect((a * 0.3).toArray() == x.map { $0 * 0.3 } && (0.3 * a).toArray() == x.map { $0 * 0.3 })
            #expect((a / 0.3).toArray() == x.map { $0 / 0.3 })
            var sum = a
            sum += b
            #expect(sum.toArray() == zip(x, y).map { $0 + $1 })
        }
        // A one-element operand with more axes gives the broadcast shape.
        #expect((Tensor([1, 2, 3]) + Tensor([1], shape: [1, 1])).shape == [1, 3])
        #expect((Tensor([1, 2, 3]) * Tensor([2], shape: [1, 1])).toArray() == [2, 4, 6])
    }

    @Test("softmaxPrefix: a causal row's softmax over its visible prefix (others exactly 0), NaN and empty prefixes; softmaxBackwardRows matches Float64")
    func softmaxRows() {
        var generator = SeededRandom(seed: 14)
        for (count, visible) in [(84, 84), (84, 37), (13, 1), (13, 12)] {
            let scores = Tensor.randomNormal([count], std: 3, generator: &generator).toArray()
            var row = scores
            row.withUnsafeMutableBufferPointer { Tensor.softmaxPrefix($0.baseAddress!, count: count, visible: visible) }
            // The same steps written out: −∞ past the prefix, exponentiate by the prefix's maximum, scale.
            var expected = scores
            for i in visible..<count { expected[i] = -.infinity }
            let maximum = scores[0..<visible].max()!
            let total = expected.withUnsafeMutableBufferPointer { Tensor.exponentiateShifted($0.baseAddress!, count: count, shift: maximum) }
            expected = expected.map { $0 * (1 / total) }
            #expect(row == expected, "count \(count), visible \(visible)")
            #expect(row[visible...].allSatisfy { $0 == 0 })
        }
        var withNaN: [Float] = [1, .nan, 2, 3]
        withNaN.withUnsafeMutableBufferPointer { Tensor.softmaxPrefix($0.baseAddress!, count: 4, visible: 3) }
        #expect(withNaN.allSatisfy { $0.isNaN })
        var hidden: [Float] = [1, 2, 3]
        hidden.withUnsafeMutableBufferPointer { Tensor.softmaxPrefix($0.baseAddress!, count: 3, visible: 0) }
        #expect(hidden == [0, 0, 0])

        let (rows, columns): (Int, Int) = (3, 29)
        let p = Tensor.randomUniform([rows * columns], low: 0, high: 0.2, generator: &generator).toArray()
        let d = Tensor.randomNormal([rows * columns], generator: &generator).toArray()
        var actual = d
        actual.withUnsafeMutableBufferPointer { Tensor.softmaxBackwardRows(probabilities: p, gradients: $0.baseAddress!, rows: rows, columns: columns, scale: 0.125) }
        for r in 0..<rows {
            let range = (r * columns)..<((r + 1) * columns)
            let dot = range.reduce(0.0) { $0 + Double(d[$1]) * Double(p[$1]) }
            for i in range {
                let reference = Double(p[i]) * (Double(d[i]) - dot) * 0.125
                #expect(abs(Double(actual[i]) - reference) <= 1e-6 * max(1, abs(reference)))
            }
        }
    }

    @Test("rotateHalves equals the scalar rotation (one rounding per product and sum) bit for bit, both directions")
    func rotaryHalves() {
        var generator = SeededRandom(seed: 12)
        // half = 32 (SmolLM2's heads) and 13 (a tail that is not a multiple of 8); rows start mid-tensor.
        for (half, steps, rows) in [(32, 7, 30), (13, 5, 11)] {
            let x = Tensor.randomNormal([rows * 2 * half], std: 2, generator: &generator).toArray()
            let cosines = Tensor.randomUniform([steps * half], low: -1, high: 1, generator: &generator).toArray()
            let sines = Tensor.randomUniform([steps * half], low: -1, high: 1, generator: &generator).toArray()
            for direction: Float in [1, -1] {
                var expected = [Float](repeating: .nan, count: x.count)
                for row in 3..<rows {
                    let t = row % steps, base = row * 2 * half
                    for i in 0..<half {
                        let c = cosines[t * half + i], s = direction * sines[t * half + i]
                        let (a, b) = (x[base + i], x[base + i + half])
                        let (ac, bs, bc, aS) = (a * c, b * s, b * c, a * s)
                        expected[base + i] = ac - bs
                        expected[base + i + half] = bc + aS
                    }
                }
                var actual = [Float](repeating: .nan, count: x.count)
                actual.withUnsafeMutableBufferPointer { y in
                    Tensor.rotateHalves(x, into: y.baseAddress!, cosines: cosines, sines: sines, rows: 3..<rows, steps: steps,
                                        half: half, direction: direction)
                }
                // Rows before the range stay untouched (NaN); the rest match bit for bit.
                #expect(actual.map(\.bitPattern) == expected.map(\.bitPattern), "half \(half), direction \(direction)")
            }
        }
    }

    /// A gated kernel's output and gradients on 70,003 elements (split across workers, with a scalar
    /// tail), checked equal for 2 threads and 1 and for a gradient left out.
    static func gatedKernel(seed: UInt64, gateSpread: Float, forward: (Tensor, Tensor) -> Tensor,
                            gradients: (Tensor, Tensor, Tensor, Bool, Bool) -> (gate: Tensor?, up: Tensor?))
        -> (gate: Tensor, up: Tensor, g: Tensor, out: Tensor, dGate: Tensor, dUp: Tensor) {
        var generator = SeededRandom(seed: seed)
        let gate = Tensor.randomNormal([7, 10_001], std: gateSpread, generator: &generator)
        let up = Tensor.randomNormal([7, 10_001], generator: &generator)
        let g = Tensor.randomNormal([7, 10_001], generator: &generator)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        Parallel.threadCount = 2
        let out = forward(gate, up)
        let (dGate, dUp) = gradients(gate, up, g, true, true)
        Parallel.threadCount = 1
        #expect(forward(gate, up) == out)
        let single = gradients(gate, up, g, true, true)
        #expect(single.gate == dGate && single.up == dUp)
        #expect(gradients(gate, up, g, false, true).gate == nil && gradients(gate, up, g, true, false).up == nil)
        return (gate, up, g, out, dGate!, dUp!)
    }

    @Test("geGLU (tanh GELU gate) and its gradients match the Float64 tanh formulas, and do not depend on the thread count")
    func geGLU() {
        // Gates up to ±15 reach both saturations.
        let (gate, up, g, out, dGate, dUp) = Self.gatedKernel(seed: 6, gateSpread: 4, forward: Tensor.geGLU, gradients: Tensor.geGLUGradients)
        let c = (2 / Double.pi).squareRoot()
        for i in stride(from: 0, to: gate.count, by: 89) {
            let x = Double(gate[flat: i]), u = Double(up[flat: i]), gi = Double(g[flat: i])
            let t = Foundation.tanh(c * (x + 0.044715 * x * x * x))
            let activation = 0.5 * x * (1 + t)
            #expect(abs(Double(out[flat: i]) - activation * u) <= 1e-5 * (abs(activation * u) + 1e-3))
            #expect(abs(Double(dUp[flat: i]) - gi * activation) <= 1e-5 * (abs(gi * activation) + 1e-3))
            let slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)
            #expect(abs(Double(dGate[flat: i]) - gi * u * slope) <= 1e-5 * (abs(gi * u * slope) + 1e-3), "x = \(x)")
        }
    }

    @Test("swiGLU and its gradients match Float64 formulas, and do not depend on the thread count")
    func swiGLU() {
        let (gate, up, g, out, dGate, dUp) = Self.gatedKernel(seed: 5, gateSpread: 3, forward: Tensor.swiGLU, gradients: Tensor.swiGLUGradients)
        for i in stride(from: 0, to: gate.count, by: 97) {
            let x = Double(gate[flat: i]), u = Double(up[flat: i]), gi = Double(g[flat: i])
            let s = 1 / (1 + Foundation.exp(-x))
            #expect(abs(Double(out[flat: i]) - x * s * u) <= 1e-5 * (abs(x * s * u) + 1e-3))
            #expect(abs(Double(dUp[flat: i]) - gi * x * s) <= 1e-5 * (abs(gi * x * s) + 1e-3))
            let expected = gi * u * s * (1 + x * (1 - s))
            #expect(abs(Double(dGate[flat: i]) - expected) <= 1e-5 * (abs(expected) + 1e-3))
        }
    }

    @Test("rmsNorm and its input gradient match Float64, for 1 and 2 threads")
    func rmsNorm() {
        var generator = SeededRandom(seed: 9)
        let x = Tensor.randomNormal([300, 203], generator: &generator)
        let w = Tensor.randomNormal([203], generator: &generator)
        let g = Tensor.randomNormal([300, 203], generator: &generator)
        let previous = Parallel.threadCount
        defer { Parallel.threadCount = previous }
        Parallel.threadCount = 2
        let (y, inverse) = Tensor.rmsNorm(x, weight: w, epsilon: 1e-5)
        let dx = Tensor.rmsNormInputGradient(x, weight: w, gradient: g, inverseRMS: inverse)
        Parallel.threadCount = 1
        #expect(Tensor.rmsNorm(x, weight: w, epsilon: 1e-5).output == y)
        #expect(Tensor.rmsNormInputGradient(x, weight: w, gradient: g, inverseRMS: inverse) == dx)
        for r in stride(from: 0, to: 300, by: 37) {
            let row = (0..<203).map { Double(x[flat: r * 203 + $0]) }
            let inv = 1 / ((row.map { $0 * $0 }.reduce(0, +) / 203) + 1e-5).squareRoot()
            #expect(abs(Double(inverse[r]) - inv) <= 1e-5 * inv)
            let dot = (0..<203).map { Double(g[flat: r * 203 + $0]) * Double(w[flat: $0]) * row[$0] }.reduce(0, +)
            for j in [0, 7, 8, 200, 202] {
                let expected = row[j] * inv * Double(w[flat: j])
                #expect(abs(Double(y[flat: r * 203 + j]) - expected) <= 1e-5 * (abs(expected) + 1e-3))
                let gradient = inv * Double(g[flat: r * 203 + j]) * Double(w[flat: j]) - row[j] * inv * inv * inv * dot / 203
                #expect(abs(Double(dx[flat: r * 203 + j]) - gradient) <= 1e-4 * (abs(gradient) + 1e-2))
            }
        }
    }
}
