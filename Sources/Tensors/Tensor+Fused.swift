import CKernels

// Fused, vectorised kernels for the hot elementwise and row operations of a transformer step
// (CKernels, AVX2 when the CPU has it), split across the worker pool. Each element or row is
// computed by one worker, so results do not depend on the thread count.

/// Elements (or row elements) below which one thread does the whole job.
let parallelElementThreshold = 1 << 15

extension Tensor {
    /// `silu(gate) · up` elementwise (SwiGLU), `silu(x) = x·σ(x)`; same shapes.
    public static func swiGLU(gate: Tensor, up: Tensor) -> Tensor {
        gated("swiGLU", gate: gate, up: up, kernel: pk_swiglu_forward)
    }

    /// Gradients of `swiGLU(gate:up:)` for the incoming `gradient`: (d gate, d up), each computed
    /// only when asked for.
    public static func swiGLUGradients(gate: Tensor, up: Tensor, gradient: Tensor,
                                       wantGate: Bool, wantUp: Bool) -> (gate: Tensor?, up: Tensor?) {
        gatedGradients("swiGLUGradients", gate: gate, up: up, gradient: gradient, wantGate: wantGate, wantUp: wantUp,
                       kernel: pk_swiglu_backward)
    }

    /// `gelu_tanh(gate) · up` elementwise (GeGLU: Gemma's gated feed-forward); same shapes.
    public static func geGLU(gate: Tensor, up: Tensor) -> Tensor {
        gated("geGLU", gate: gate, up: up, kernel: pk_geglu_forward)
    }

    /// Gradients of `geGLU(gate:up:)` for the incoming `gradient`: (d gate, d up), each computed
    /// only when asked for.
    public static func geGLUGradients(gate: Tensor, up: Tensor, gradient: Tensor,
                                      wantGate: Bool, wantUp: Bool) -> (gate: Tensor?, up: Tensor?) {
        gatedGradients("geGLUGradients", gate: gate, up: up, gradient: gradient, wantGate: wantGate, wantUp: wantUp,
                       kernel: pk_geglu_backward)
    }

    /// A gated activation's forward kernel (`out = act(gate) · up`) over ranges of elements.
    typealias GatedKernel = @convention(c) (UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
    /// A gated activation's backward kernel (gate, up, incoming gradient → d gate, d up; either may be NULL).
    typealias GatedGradientKernel = @convention(c) (UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                                    UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void

    /// Runs a gated activation's forward kernel over 8-aligned ranges of the elements in parallel.
    private static func gated(_ name: String, gate: Tensor, up: Tensor, kernel: GatedKernel) -> Tensor {
        precondition(gate.shape == up.shape, "\(name): gate \(gate.shape) and up \(up.shape) differ")
        return Tensor(shape: gate.shape) { out in
            gate.withUnsafeBufferPointer { pg in
                up.withUnsafeBufferPointer { pu in
                    let (g, u, o) = (pg.baseAddress, pu.baseAddress, out.baseAddress)
                    Parallel.forEachVectorAlignedRange(out.count, minimumPerChunk: parallelElementThreshold) { range in
                        kernel(g! + range.lowerBound, u! + range.lowerBound, o! + range.lowerBound, range.count)
                    }
                }
            }
        }
    }

    /// Runs a gated activation's backward kernel, allocating only the gradients asked for.
    private static func gatedGradients(_ name: String, gate: Tensor, up: Tensor, gradient: Tensor, wantGate: Bool, wantUp: Bool,
                                       kernel: GatedGradientKernel) -> (gate: Tensor?, up: Tensor?) {
        precondition(gate.shape == up.shape && gate.shape == gradient.shape,
                     "\(name): gate \(gate.shape), up \(up.shape) and gradient \(gradient.shape) differ")
        // Written in full by the kernel below.
        var dGate = wantGate ? Tensor(shape: gate.shape) { _ in } : nil
        var dUp = wantUp ? Tensor(shape: gate.shape) { _ in } : nil
        guard wantGate || wantUp else { return (nil, nil) }
        Tensor.withOptionalMutablePointer(&dGate) { dg in
            Tensor.withOptionalMutablePointer(&dUp) { du in
                gate.withUnsafeBufferPointer { pg in
                    up.withUnsafeBufferPointer { pu in
                        gradient.withUnsafeBufferPointer { pgr in
                            let (g, u, gr) = (pg.baseAddress!, pu.baseAddress!, pgr.baseAddress!)
                            Parallel.forEachVectorAlignedRange(gate.count, minimumPerChunk: parallelElementThreshold) { range in
                                let start = range.lowerBound
                                kernel(g + start, u + start, gr + start, dg.map { $0 + start }, du.map { $0 + start }, range.count)
                            }
                        }
                    }
                }
            }
        }
        return (dGate, dUp)
    }

    /// RMSNorm over the last axis: `x · r · weight` with `r = 1/√(mean(x²) + ε)` per row; also
    /// returns every row's `r` (what the backward needs).
    public static func rmsNorm(_ x: Tensor, weight: Tensor, epsilon: Float) -> (output: Tensor, inverseRMS: [Float]) {
        let c = x.shape.last ?? 0
        precondition(weight.shape == [c], "rmsNorm: weight \(weight.shape) does not match the last axis of \(x.shape)")
        let rows = c == 0 ? 0 : x.count / c
        var inverse = [Float](repeating: 0, count: rows)
        let output = Tensor(shape: x.shape) { out in
            guard rows > 0 else { return }
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    inverse.withUnsafeMutableBufferPointer { pi in
                        let (xs, w, o, r) = (px.baseAddress!, pw.baseAddress!, out.baseAddress!, pi.baseAddress!)
                        Parallel.forEachRange(rows, minimumPerChunk: Swift.max(1, parallelElementThreshold / c)) { range in
                            let offset = range.lowerBound * c
                            pk_rmsnorm_forward(xs + offset, w, o + offset, r + range.lowerBound, range.count, c, epsilon)
                        }
                    }
                }
            }
        }
        return (output, inverse)
    }

    /// The input gradient of `rmsNorm`: `r·(g⊙w) − x·r³·Σ(g⊙w⊙x)/C` per row.
    public static func rmsNormInputGradient(_ x: Tensor, weight: Tensor, gradient: Tensor, inverseRMS: [Float]) -> Tensor {
        let c = x.shape.last ?? 0
        let rows = c == 0 ? 0 : x.count / c
        precondition(gradient.shape == x.shape && weight.shape == [c] && inverseRMS.count == rows,
                     "rmsNormInputGradient: x \(x.shape), weight \(weight.shape), gradient \(gradient.shape), \(inverseRMS.count) rows")
        return Tensor(shape: x.shape) { out in
            guard rows > 0 else { return }
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    gradient.withUnsafeBufferPointer { pg in
                        inverseRMS.withUnsafeBufferPointer { pi in
                            let (xs, w, g, r, o) = (px.baseAddress!, pw.baseAddress!, pg.baseAddress!, pi.baseAddress!, out.baseAddress!)
                            Parallel.forEachRange(rows, minimumPerChunk: Swift.max(1, parallelElementThreshold / c)) { range in
                                let offset = range.lowerBound * c
                                pk_rmsnorm_backward(xs + offset, w, g + offset, r + range.lowerBound, o + offset, range.count, c)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// In place, `x[i] = e^(x[i] − shift)` for `count` values (vectorised, about 2 ulp; arguments
    /// ≤ −87.3 and −∞ give exactly 0); returns their sum. For softmax-like rows.
    @discardableResult
    public static func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        pk_exp_shifted(x, count, shift)
    }

    /// In place, the softmax of a row of `count` scores over its first `visible` (a causal prefix); the
    /// others become exactly 0. A NaN among the visible scores makes the row NaN; `visible` ≤ 0 makes it
    /// all 0 (a query that sees no key). Same values as `exponentiateShifted` by the row's maximum,
    /// then scaling by the reciprocal of the sum.
    public static func softmaxPrefix(_ row: UnsafeMutablePointer<Float>, count: Int, visible: Int) {
        pk_softmax_prefix(row, count, visible)
    }

    /// The softmax backward of `rows` rows of `columns` probabilities `p`, in place of their gradients
    /// `d`: `d ← p ⊙ (d − Σ d⊙p) · scale` per row (vectorised sums).
    public static func softmaxBackwardRows(probabilities p: UnsafePointer<Float>, gradients d: UnsafeMutablePointer<Float>, rows: Int,
                                           columns: Int, scale: Float) {
        pk_softmax_backward_rows(p, d, rows, columns, scale)
    }

    /// Rotary position embedding (split-half convention) of `rows` of `x` into the same rows of `y`. Rows
    /// hold `2·half` values; row `r` is at position `r % steps`, whose angles' cosines and sines are
    /// `cosines[(r % steps)·half ..< +half]` and likewise `sines`:
    /// `y[i] = x[i]·cos − x[i+half]·direction·sin`, `y[i+half] = x[i+half]·cos + x[i]·direction·sin`
    /// (direction −1 rotates back: the backward). One rounding per product and sum, as a scalar loop.
    public static func rotateHalves(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, cosines: UnsafePointer<Float>,
                                    sines: UnsafePointer<Float>, rows: Range<Int>, steps: Int, half: Int, direction: Float) {
        pk_rotary(x, y, cosines, sines, rows.lowerBound, rows.count, steps, half, direction)
    }
}

extension Tensor {
    /// Runs `body` with the base address of `tensor`'s storage, or nil when there is no tensor (a
    /// gradient a kernel may skip).
    public static func withOptionalMutablePointer<R>(_ tensor: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
        guard tensor != nil else { return body(nil) }
        return tensor!.withUnsafeMutableBufferPointer { body($0.baseAddress) }
    }
}
