/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64) whose streams are
/// identical on every run and platform.
///
/// Uniform floats take the top 24 bits of a 64-bit draw; normal deviates use the Marsaglia polar
/// method with a logarithm computed here from IEEE-exact operations only, so no platform `libm`
/// difference can change a single bit. The full state can be saved and restored for exact resume.
public struct SeededRandom: RandomNumberGenerator, Sendable, Equatable {
    /// The four 64-bit words of xoshiro256** state.
    public var state: (UInt64, UInt64, UInt64, UInt64) {
        get { (s0, s1, s2, s3) }
        set { (s0, s1, s2, s3) = newValue }
    }
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    /// A normal deviate kept from the last polar-method pair, if any.
    private var spareNormal: Double?

    /// Creates a generator; the same seed always yields the same stream.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
        spareNormal = nil
    }

    /// Equal when every field is equal.
    public static func == (lhs: SeededRandom, rhs: SeededRandom) -> Bool {
        lhs.s0 == rhs.s0 && lhs.s1 == rhs.s1 && lhs.s2 == rhs.s2 && lhs.s3 == rhs.s3
            && lhs.spareNormal == rhs.spareNormal
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// A uniform `Float` in `[0, 1)` with 24 random bits.
    public mutating func nextUniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform `Double` in `[0, 1)` with 53 random bits.
    public mutating func nextUniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A uniform `Float` in `[low, high)`.
    public mutating func nextUniform(in low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUniform()
    }

    /// A standard normal deviate (mean 0, variance 1).
    public mutating func nextNormal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        while true {
            let u = 2 * nextUniformDouble() - 1
            let v = 2 * nextUniformDouble() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let factor = (-2 * SeededRandom.portableLog(s) / s).squareRoot()
                spareNormal = v * factor
                return u * factor
            }
        }
    }

    /// Natural logarithm of a positive finite `x` from +, −, ×, ÷ and exponent manipulation only
    /// (bit-identical everywhere). Accurate to about 1 ulp, which is ample for sampling.
    static func portableLog(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "portableLog needs a positive finite value")
        // x = m · 2^e with m in [√½, √2).
        var exponent = Double(x.exponent)
        var m = x.significand  // [1, 2)
        if m > 1.4142135623730951 {
            m *= 0.5
            exponent += 1
        }
        // log(m) = 2·atanh(z), z = (m−1)/(m+1), |z| ≤ 0.1716.
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        var term = z
        var sum = 0.0
        var k = 1.0
        while k < 40 {
            sum += term / k
            term *= z2
            k += 2
        }
        return 2 * sum + exponent * 0.6931471805599453
    }
}

extension SeededRandom: Codable {
    private enum CodingKeys: String, CodingKey { case state, spareNormal }

    /// Restores a generator saved with `encode(to:)`: the four state words (as decimal strings, so
    /// JSON keeps all 64 bits) and any pending normal deviate.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let words = try container.decode([String].self, forKey: .state).compactMap(UInt64.init)
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .state, in: container, debugDescription: "expected four non-zero-in-total 64-bit words")
        }
        self.init(seed: 0)
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
        spareNormal = try container.decodeIfPresent(Double.self, forKey: .spareNormal)
    }

    /// Encodes the value for `Codable`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode([s0, s1, s2, s3].map(String.init), forKey: .state)
        try container.encodeIfPresent(spareNormal, forKey: .spareNormal)
    }
}
