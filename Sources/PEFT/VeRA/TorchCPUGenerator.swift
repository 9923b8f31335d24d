/// PyTorch's CPU random generator (`torch.Generator().manual_seed(seed)`): a 32-bit Mersenne Twister
/// (MT19937) whose `uniform_` on float32 tensors PEFTKit reproduces bit for bit, so VeRA's shared
/// projections drawn from `projection_prng_key` are the ones Python PEFT draws.
///
/// Float32 `uniform_(from, to)` fills elements in order; each takes one 32-bit output `v` and is
/// `((v & 0xFFFFFF) · 2⁻²⁴) · (to − from) + from`, computed in float32.
struct TorchCPUGenerator {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    /// `manual_seed(seed)`: the state is initialised from the seed's low 32 bits.
    init(seed: UInt64) {
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<624 { state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
    }

    /// The next 32-bit output.
    mutating func next() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7FFF_FFFF)
                state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `count` values as `torch.empty(count).uniform_(low, high, generator=…)` gives them (the bounds
    /// are rounded to float32 first, as PyTorch does).
    mutating func uniform(count: Int, low: Double, high: Double) -> [Float] {
        let from = Float(low), span = Float(high) - Float(low)
        return (0..<count).map { _ in
            let unit = Float(next() & 0xFF_FFFF) * Float(1.0 / 16_777_216.0)
            return unit * span + from
        }
    }

    /// PEFT's `_kaiming_init` of a `[rows, columns]` tensor: uniform in ±√6/√columns.
    mutating func kaimingUniform(rows: Int, columns: Int) -> [Float] {
        let bound = 3.0.squareRoot() * (2.0.squareRoot() / Double(columns).squareRoot())
        return uniform(count: rows * columns, low: -bound, high: bound)
    }
}
