import Foundation
import Testing
@testable import Tensors

@Suite("SeededRandom")
struct RandomTests {
    @Test("same seed, same stream; the stream is pinned so any platform difference fails")
    func reproducible() {
        var a = SeededRandom(seed: 42), b = SeededRandom(seed: 42)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        var c = SeededRandom(seed: 42)
        let normals = (0..<4).map { _ in c.nextNormal() }
        var d = SeededRandom(seed: 42)
        #expect(normals == (0..<4).map { _ in d.nextNormal() })
        // Golden values recorded from this implementation: a change in the generator or in the
        // portable logarithm changes them.
        #expect(first[0] == Self.goldenFirst)
        #expect(normals[0] == Self.goldenNormal)
    }

    static let goldenFirst: UInt64 = 1_546_998_764_402_558_742  // matches a reference xoshiro256** + SplitMix64
    static let goldenNormal: Double = -0.7262191382447857

    @Test func normalMoments() {
        var generator = SeededRandom(seed: 9)
        let samples = Tensor.randomNormal([20_000], generator: &generator)
        let mean = samples.mean().scalar
        let variance = (samples - mean).squared().mean().scalar
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }

    @Test func uniformRange() {
        var generator = SeededRandom(seed: 2)
        let samples = Tensor.randomUniform([10_000], low: -2, high: 3, generator: &generator)
        #expect(samples.toArray().allSatisfy { $0 >= -2 && $0 < 3 })
    }

    @Test func portableLogMatchesLibm() {
        for x in [1e-300, 0.001, 0.5, 1, 1.4142, 2, 10, 123456.789] {
            #expect(abs(SeededRandom.portableLog(x) - Foundation.log(x)) <= 4e-16 * max(1, abs(Foundation.log(x))))
        }
    }
}
