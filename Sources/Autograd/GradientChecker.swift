import Tensors

/// Compares the analytic gradients of a function of variables with central finite differences.
///
/// The function's output `y` is reduced to a scalar `L = Σ wᵢ·yᵢ` with fixed random weights `w`
/// (so every output element and every cross term is exercised), accumulated in Float64. The
/// analytic gradient is `backward(seed: w)`; the numeric one is `(L(x+h) − L(x−h)) / (x+h − (x−h))`
/// per input element, using the step actually representable in Float32.
///
/// Tolerances: with Float32 evaluation, the rounding error of `L` is about `1e-7·Σ|wᵢyᵢ|`, divided by
/// the step `2h` (h = 1e-2 → ~5e-6 per unit of Σ|wᵢyᵢ|), and the truncation error is O(h²·f‴) ≈ 1e-4
/// for the smooth ops here. The defaults `atol = 2e-3`, `rtol = 2e-2` sit above both for the small
/// shapes the tests use, yet far below the error of a wrong backward (a missing term or factor is
/// O(1) relative).
public enum GradientChecker {
    /// The outcome of a check.
    public struct Report: Sendable, CustomStringConvertible {
        /// Largest `|analytic − numeric|` seen.
        public var maxAbsoluteError: Float
        /// The worst element that broke the tolerance, if any: input index, flat element index, analytic and numeric values.
        public var firstFailure: (input: Int, element: Int, analytic: Float, numeric: Float)?
        /// Number of elements compared.
        public var checkedElements: Int
        /// True when every element was within tolerance.
        public var passed: Bool { firstFailure == nil }

        /// A one-line description, as users see it.
        public var description: String {
            if let f = firstFailure {
                return "gradient check FAILED at input \(f.input) element \(f.element): analytic \(f.analytic) vs numeric \(f.numeric) (max abs error \(maxAbsoluteError), \(checkedElements) elements)"
            }
            return "gradient check passed (\(checkedElements) elements, max abs error \(maxAbsoluteError))"
        }
    }

    /// Checks every input that requires a gradient.
    ///
    /// - Parameters:
    ///   - inputs: the variables to differentiate with respect to (those with `requiresGrad`).
    ///   - step: the finite-difference step `h`.
    ///   - maxElementsPerInput: compares at most this many (evenly spaced) elements of each input.
    ///   - function: builds the output from the inputs; called many times, must be deterministic.
    public static func check(inputs: [Variable], step: Float = 1e-2, atol: Float = 2e-3, rtol: Float = 2e-2,
                             maxElementsPerInput: Int = 64, seed: UInt64 = 1234,
                             _ function: ([Variable]) throws -> Variable) rethrows -> Report {
        for input in inputs { input.zeroGrad() }
        let output = try function(inputs)
        var generator = SeededRandom(seed: seed)
        let weights = Tensor.randomUniform(output.shape, low: -1, high: 1, generator: &generator)
        output.backward(seed: weights)

        func objective() throws -> Double {
            let y = try withoutGradients { try function(inputs) }.value
            var total = 0.0
            weights.withUnsafeBufferPointer { w in
                y.withUnsafeBufferPointer { values in
                    for i in 0..<values.count { total += Double(w[i]) * Double(values[i]) }
                }
            }
            return total
        }

        var report = Report(maxAbsoluteError: 0, firstFailure: nil, checkedElements: 0)
        for (inputIndex, input) in inputs.enumerated() where input.requiresGrad {
            let analytic = input.grad ?? Tensor.zeros(input.shape)
            let count = input.value.count
            let stride = max(1, count / maxElementsPerInput)
            for element in Swift.stride(from: 0, to: count, by: stride) {
                let original = input.value[flat: element]
                let plus = original + step, minus = original - step
                var perturbed = input.value
                perturbed.withUnsafeMutableBufferPointer { $0[element] = plus }
                input.value = perturbed
                let high = try objective()
                perturbed.withUnsafeMutableBufferPointer { $0[element] = minus }
                input.value = perturbed
                let low = try objective()
                perturbed.withUnsafeMutableBufferPointer { $0[element] = original }
                input.value = perturbed
                let numeric = Float((high - low) / Double(plus - minus))
                let exact = analytic[flat: element]
                let error = abs(exact - numeric)
                report.maxAbsoluteError = max(report.maxAbsoluteError, error)
                report.checkedElements += 1
                if error > atol + rtol * max(abs(exact), abs(numeric)) && report.firstFailure == nil {
                    report.firstFailure = (inputIndex, element, exact, numeric)
                }
            }
        }
        return report
    }
}
