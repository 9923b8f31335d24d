import Foundation
import NN
import Tensors

/// What re-quantizing one merged weight cost: the difference between the re-quantized weight and the
/// exact float merge, measured, next to the size of the update the adapter made.
public struct RequantizationReport: Sendable, Equatable {
    /// The format the merged weight was stored in (Q4_0 bases are re-quantized to Q4_1).
    public var format: QuantizedMatrix.Format
    /// Largest |re-quantized − exact| over the weight.
    public var maxAbsoluteError: Float
    /// Root mean square of re-quantized − exact.
    public var rmsError: Float
    /// Root mean square of the adapter's update (exact merge − base).
    public var updateRMS: Float

    /// `rmsError / updateRMS`: near or above 1, the re-quantization erases about as much as the
    /// adapter changed.
    public var errorRelativeToUpdate: Float { updateRMS > 0 ? rmsError / updateRMS : (rmsError > 0 ? .infinity : 0) }
}

extension RequantizationReport {
    /// One line over many layers: how many were re-quantized, the RMS error per weight against the
    /// exact merge beside the adapter's RMS update, and the largest error.
    public static func summary(_ reports: [String: RequantizationReport]) -> String {
        guard !reports.isEmpty else { return "no packed layer was merged" }
        let values = Array(reports.values)
        let meanSquare = { (keyPath: KeyPath<RequantizationReport, Float>) in
            (values.map { $0[keyPath: keyPath] * $0[keyPath: keyPath] }.reduce(0, +) / Float(values.count)).squareRoot()
        }
        let error = meanSquare(\.rmsError), update = meanSquare(\.updateRMS)
        let formats = Set(values.map(\.format.rawValue)).sorted().joined(separator: "/")
        let largest = values.map(\.maxAbsoluteError).max() ?? 0
        return "re-quantized \(values.count) merged layers to \(formats): RMS error \(String(format: "%.3g", error)) per weight, "
            + "\(String(format: "%.2f", update > 0 ? error / update : 0))× the adapter's RMS update (\(String(format: "%.3g", update))); largest error \(String(format: "%.3g", largest))"
    }
}

extension PeftModel {
    /// Merges the adapters into the base and returns the plain model, re-quantizing every merged
    /// weight of a packed (`QuantizedLinear`) layer in its own format. Quantized weights cannot absorb
    /// an update exactly, so this is explicit and measured: each packed layer is merged in float
    /// first, then quantized again, and the report gives, per layer path, the error that introduced
    /// beside the update itself. Float layers merge exactly, as `mergeAndUnload()` does.
    ///
    /// To keep the exact result instead, load the base in float and use `mergeAndUnload()`.
    public func mergeAndUnloadRequantizing() throws -> (model: Base, reports: [String: RequantizationReport]) {
        var packed: [(path: String, base: QuantizedLinear)] = []
        for (path, module) in root.namedModules() {
            guard let wrapper = module as? any AdapterWrapper, let base = wrapper.wrappedModule as? QuantizedLinear else { continue }
            packed.append((path, base))
            // Merge into a float copy of the packed weight.
            try root.replaceModule(at: "\(path).\(Module.wrappedLayerName)", with: Linear(weight: base.denseWeight(), bias: base.bias?.value))
        }
        try merge()
        let plain = try mergeAndUnload()
        var reports: [String: RequantizationReport] = [:]
        for (path, base) in packed {
            guard let merged = root.module(at: path) as? Linear else { continue }
            let exact = merged.weight.value
            let format: QuantizedMatrix.Format = base.weight.format == .q4_0 ? .q4_1 : base.weight.format
            let requantized = try QuantizedMatrix.quantizing(exact, to: format)
            let error = requantized.dequantized() - exact, update = exact - base.denseWeight()
            let rms = { (t: Tensor) in (t.squared().sum().scalar / Float(max(t.count, 1))).squareRoot() }
            reports[path] = RequantizationReport(format: format, maxAbsoluteError: error.withUnsafeBufferPointer { $0.lazy.map(Swift.abs).max() ?? 0 }, rmsError: rms(error), updateRMS: rms(update))
            try root.replaceModule(at: path, with: QuantizedLinear(weight: requantized, bias: merged.bias?.value))
        }
        return (plain, reports)
    }
}
