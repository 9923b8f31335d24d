import Tensors

/// Root-mean-square normalisation over the last axis: `y = x / √(mean(x²) + ε) · w`.
///
///   x: (…, C)   weight: (C)
/// Backward with r = 1/√(mean(x²)+ε), u = g⊙w:
///   dx = r·u − x·r³·Σ(u⊙x)/C      dw = Σ_rows g⊙x·r
public func rmsNorm(_ x: Variable, weight: Variable, epsilon: Float) -> Variable {
    let c = x.shape.last ?? 0
    precondition(weight.shape == [c], "rmsNorm: weight \(weight.shape) does not match the last axis of \(x.shape)")
    let rows = c == 0 ? 0 : x.value.count / c
    let input = x.value, w = weight.value
    let (output, inverseRMS) = Tensor.rmsNorm(input, weight: w, epsilon: epsilon)
    return Variable.operation("rmsNorm", value: output, inputs: [x, weight]) { g in
        let dx = x.requiresGrad ? Tensor.rmsNormInputGradient(input, weight: w, gradient: g, inverseRMS: inverseRMS) : nil
        var dw: Tensor? = nil
        if weight.requiresGrad {
            var sums = [Double](repeating: 0, count: c)
            g.withUnsafeBufferPointer { pg in
                input.withUnsafeBufferPointer { px in
                    for r in 0..<rows {
                        for j in 0..<c { sums[j] += Double(pg[r * c + j] * px[r * c + j] * inverseRMS[r]) }
                    }
                }
            }
            dw = Tensor(sums.map(Float.init), shape: [c])
        }
        return [dx, dw]
    }
}

/// Layer normalisation over the last axis: `y = (x − μ)/√(σ² + ε) · w + b` (biased variance).
///
///   x: (…, C)   weight, bias: (C)
/// Backward with x̂ = (x − μ)·r, u = g⊙w:
///   dx = r·(u − mean(u) − x̂·mean(u⊙x̂))    dw = Σ_rows g⊙x̂    db = Σ_rows g
public func layerNorm(_ x: Variable, weight: Variable, bias: Variable?, epsilon: Float) -> Variable {
    let c = x.shape.last ?? 0
    precondition(weight.shape == [c] && (bias == nil || bias!.shape == [c]),
                 "layerNorm: weight \(weight.shape) / bias \(bias?.shape ?? []) do not match the last axis of \(x.shape)")
    let rows = c == 0 ? 0 : x.value.count / c
    let input = x.value, w = weight.value
    var normalized = Tensor.zeros(input.shape)
    var inverseStd = [Float](repeating: 0, count: rows)
    normalized.withUnsafeMutableBufferPointer { xhat in
        input.withUnsafeBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * c
                var mean: Float = 0
                for j in 0..<c { mean += row[j] }
                mean /= Float(c)
                var variance: Float = 0
                for j in 0..<c { variance += (row[j] - mean) * (row[j] - mean) }
                variance /= Float(c)
                let inv = 1 / (variance + epsilon).squareRoot()
                inverseStd[r] = inv
                for j in 0..<c { xhat[r * c + j] = (row[j] - mean) * inv }
            }
        }
    }
    var output = normalized * w
    if let bias { output = output + bias.value }
    var inputs = [x, weight]
    if let bias { inputs.append(bias) }
    let xhat = normalized
    return Variable.operation("layerNorm", value: output, inputs: inputs) { g in
        var dx: Tensor? = nil
        if x.requiresGrad {
            dx = Tensor(shape: input.shape) { out in
                g.withUnsafeBufferPointer { pg in
                    w.withUnsafeBufferPointer { pw in
                        xhat.withUnsafeBufferPointer { px in
                            for r in 0..<rows {
                                var meanU: Float = 0, meanUX: Float = 0
                                for j in 0..<c {
                                    let u = pg[r * c + j] * pw[j]
                                    meanU += u
                                    meanUX += u * px[r * c + j]
                                }
                                meanU /= Float(c)
                                meanUX /= Float(c)
                                for j in 0..<c {
                                    let u = pg[r * c + j] * pw[j]
                                    out[r * c + j] = inverseStd[r] * (u - meanU - px[r * c + j] * meanUX)
                                }
                            }
                        }
                    }
                }
            }
        }
        let dw: Tensor? = weight.requiresGrad ? (g * xhat).sum(toShape: [c]) : nil
        var result = [dx, dw]
        if let bias { result.append(bias.requiresGrad ? g.sum(toShape: [c]) : nil) }
        return result
    }
}
