import CKernels
import Foundation

// Elementwise arithmetic with NumPy-style broadcasting: trailing dimensions are aligned and
// dimensions of size 1 stretch. Mismatched shapes stop with a message naming both shapes.

extension Tensor {
    /// `out[i] = x[i] op y[i]` for `count` elements by the vectorised kernel (`pk_binary`), split across
    /// the worker pool; `out` may be `x` (in place).
    static func binary(_ op: pk_binary_op, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                       _ out: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachRange(count, minimumPerChunk: parallelElementThreshold) { range in
            pk_binary(op, x + range.lowerBound, y + range.lowerBound, out + range.lowerBound, range.count)
        }
    }

    /// Applies `op` to every pair of elements of `a` and `b` broadcast to a common shape. `kernel` computes
    /// the same operation for equal shapes and scalar operands, without a closure call per element.
    @inline(__always)
    static func broadcasting(_ a: Tensor, _ b: Tensor, _ name: String, kernel: pk_binary_op,
                             _ op: (Float, Float) -> Float) -> Tensor {
        if a.shape == b.shape {
            return Tensor(shape: a.shape) { out in
                guard out.count > 0 else { return }
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in binary(kernel, pa.baseAddress!, pb.baseAddress!, out.baseAddress!, count: out.count) }
                }
            }
        }
        guard let shape = Shape.broadcast(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        if b.count == 1 {
            let s = b.scalar
            // The broadcast shape, which has b's rank when b has more axes (all of size 1).
            return a.applying(kernel, s).reshaped(shape)
        }
        if a.count == 1 {
            let s = a.scalar
            return Tensor(shape: shape) { out in
                b.withUnsafeBufferPointer { pb in for i in 0..<out.count { out[i] = op(s, pb[i]) } }
            }
        }
        let strideA = Shape.broadcastStrides(a.shape, to: shape)
        let strideB = Shape.broadcastStrides(b.shape, to: shape)
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerA = strideA[rank - 1], innerB = strideB[rank - 1]
        return Tensor(shape: shape) { out in
            guard out.count > 0 else { return }
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    var odometer = Odometer(shape: shape, stridesA: strideA, stridesB: strideB)
                    var position = 0
                    while position < out.count {
                        var ia = odometer.offsetA, ib = odometer.offsetB
                        for j in 0..<inner {
                            out[position + j] = op(pa[ia], pb[ib])
                            ia += innerA
                            ib += innerB
                        }
                        position += inner
                        odometer.advance()
                    }
                }
            }
        }
    }

    /// Applies `op` to every element, in order, on the calling thread.
    @inline(__always)
    public func map(_ op: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { p in for i in 0..<out.count { out[i] = op(p[i]) } }
        }
    }

    /// `map` for a pure `op`, with large tensors split across the worker pool.
    @inline(__always)
    func parallelMap(_ op: (Float) -> Float) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { p in
                let (x, o) = (p.baseAddress, out.baseAddress)
                Parallel.forEachRange(out.count, minimumPerChunk: parallelElementThreshold) { range in
                    for i in range { o![i] = op(x![i]) }
                }
            }
        }
    }

    /// `a[i] op s` for every element by the vectorised kernel, split across the worker pool.
    func applying(_ op: pk_binary_op, _ s: Float) -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { p in
                let (x, o) = (p.baseAddress, out.baseAddress)
                Parallel.forEachRange(out.count, minimumPerChunk: parallelElementThreshold) { range in
                    pk_binary_scalar(op, x! + range.lowerBound, s, o! + range.lowerBound, range.count)
                }
            }
        }
    }

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor { broadcasting(a, b, "add", kernel: PK_BINARY_ADD, +) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcasting(a, b, "subtract", kernel: PK_BINARY_SUBTRACT, -) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcasting(a, b, "multiply", kernel: PK_BINARY_MULTIPLY, *) }
    /// Elementwise quotient with broadcasting.
    public static func / (a: Tensor, b: Tensor) -> Tensor { broadcasting(a, b, "divide", kernel: PK_BINARY_DIVIDE, /) }

    /// Adds a scalar to every element.
    public static func + (a: Tensor, s: Float) -> Tensor { a.applying(PK_BINARY_ADD, s) }
    /// Subtracts a scalar from every element.
    public static func - (a: Tensor, s: Float) -> Tensor { a.applying(PK_BINARY_SUBTRACT, s) }
    /// Multiplies every element by a scalar.
    public static func * (a: Tensor, s: Float) -> Tensor { a.applying(PK_BINARY_MULTIPLY, s) }
    /// Multiplies every element by a scalar.
    public static func * (s: Float, a: Tensor) -> Tensor { a.applying(PK_BINARY_MULTIPLY, s) }
    /// Divides every element by a scalar.
    public static func / (a: Tensor, s: Float) -> Tensor { a.applying(PK_BINARY_DIVIDE, s) }
    /// Negates every element.
    public static prefix func - (a: Tensor) -> Tensor { a.parallelMap { -$0 } }

    /// `self += other`, with `other` broadcast to `self`'s shape.
    public static func += (a: inout Tensor, b: Tensor) {
        if a.shape == b.shape {
            a.withUnsafeMutableBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    guard pa.count > 0 else { return }
                    binary(PK_BINARY_ADD, pa.baseAddress!, pb.baseAddress!, pa.baseAddress!, count: pa.count)
                }
            }
        } else {
            let sum = a + b
            precondition(sum.shape == a.shape, "add in place: \(b.shape) does not broadcast to \(a.shape)")
            a = sum
        }
    }

    /// `self += alpha · other` for tensors of the same shape (the update used by optimizers and gradient accumulation).
    public mutating func addScaled(_ other: Tensor, by alpha: Float) {
        precondition(shape == other.shape, "addScaled: shapes \(shape) and \(other.shape) differ")
        withUnsafeMutableBufferPointer { pa in
            other.withUnsafeBufferPointer { pb in
                let (x, y) = (pa.baseAddress, pb.baseAddress)
                Parallel.forEachRange(pa.count, minimumPerChunk: parallelElementThreshold) { range in
                    for i in range { x![i] += alpha * y![i] }
                }
            }
        }
    }

    /// Elementwise square.
    public func squared() -> Tensor { parallelMap { $0 * $0 } }
    /// Elementwise square root.
    public func squareRoot() -> Tensor { parallelMap { $0.squareRoot() } }
    /// Elementwise `e^x`.
    public func exp() -> Tensor {
        Tensor(shape: shape) { out in
            withUnsafeBufferPointer { p in
                let (x, o) = (p.baseAddress, out.baseAddress)
                Parallel.forEachRange(out.count, minimumPerChunk: parallelElementThreshold) { range in
                    pk_exp(x! + range.lowerBound, o! + range.lowerBound, range.count)
                }
            }
        }
    }
    /// Elementwise natural logarithm.
    public func log() -> Tensor { map { Foundation.log($0) } }
    /// Elementwise hyperbolic tangent.
    public func tanh() -> Tensor { map { Foundation.tanh($0) } }
    /// Elementwise absolute value.
    public func abs() -> Tensor { map { Swift.abs($0) } }
    /// Elementwise clamp into `[low, high]`.
    public func clamped(_ low: Float, _ high: Float) -> Tensor { map { Swift.min(Swift.max($0, low), high) } }

    /// True when every element is finite (no NaN or infinity).
    public var isFinite: Bool {
        withUnsafeBufferPointer { p in p.allSatisfy { $0.isFinite } }
    }

    /// Largest absolute elementwise difference from `other` (same shape).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                var worst: Float = 0
                for i in 0..<a.count { worst = Swift.max(worst, Swift.abs(a[i] - b[i])) }
                return worst
            }
        }
    }

    /// True when every element is within `atol + rtol·|other|` of `other` (same shape).
    public func isClose(to other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6) -> Bool {
        guard shape == other.shape else { return false }
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                a.indices.allSatisfy { Swift.abs(a[$0] - b[$0]) <= atol + rtol * Swift.abs(b[$0]) }
            }
        }
    }
}
