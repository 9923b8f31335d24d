extension Tensor {
    /// A tensor of `shape` filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(storage: TensorStorage(repeating: value, count: Shape.elementCount(shape)), shape: shape)
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }

    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// `[start, start+step, …]` with `count` elements, as a rank-1 tensor.
    public static func arange(_ count: Int, start: Float = 0, step: Float = 1) -> Tensor {
        Tensor((0..<count).map { start + Float($0) * step }, shape: [count])
    }

    /// Samples from `N(mean, std²)`, reproducibly for a given generator state.
    public static func randomNormal(_ shape: [Int], mean: Float = 0, std: Float = 1,
                                    generator: inout SeededRandom) -> Tensor {
        Tensor(shape: shape) { buffer in
            for i in buffer.indices { buffer[i] = mean + std * Float(generator.nextNormal()) }
        }
    }

    /// Samples uniformly from `[low, high)`, reproducibly for a given generator state.
    public static func randomUniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                                     generator: inout SeededRandom) -> Tensor {
        Tensor(shape: shape) { buffer in
            for i in buffer.indices { buffer[i] = generator.nextUniform(in: low, high) }
        }
    }
}
