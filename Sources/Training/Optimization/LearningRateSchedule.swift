import Foundation

/// The learning rate as a function of the optimizer step: `rate(at: step)` for `step` in
/// `0..<totalSteps` (the rate used by the `step`-th update). Implementations are pure functions of
/// the step, so a resumed run needs only the step to continue the schedule.
public protocol LearningRateSchedule: Sendable {
    /// The rate of update number `step` (0-based).
    func rate(at step: Int) -> Float
}

/// The built-in schedules, each with linear warm-up from 0, as Hugging Face's
/// `get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup` and
/// `get_cosine_schedule_with_warmup` (half a cosine period):
///
/// - warm-up, `step < w`: `peak · step / w`
/// - constant: `peak`
/// - linear: `peak · max(0, (T − step) / (T − w))`
/// - cosine: `peak · max(0, ½(1 + cos(π · (step − w) / (T − w))))`
public struct WarmupSchedule: LearningRateSchedule, Equatable {
    /// The decay after warm-up.
    public enum Shape: String, Sendable, CaseIterable, Codable {
        /// After warm-up: hold the peak, decay linearly to zero, or follow a half cosine to zero.
        case constant, linear, cosine
    }

    /// The rate reached at the end of warm-up.
    public var peak: Float
    /// The decay shape.
    public var shape: Shape
    /// Steps of linear warm-up.
    public var warmupSteps: Int
    /// All optimizer steps of the run `T`.
    public var totalSteps: Int

    /// A schedule over `totalSteps` steps that warms up for `warmupSteps`.
    public init(peak: Float, shape: Shape, warmupSteps: Int = 0, totalSteps: Int) {
        self.peak = peak
        self.shape = shape
        self.warmupSteps = max(0, warmupSteps)
        self.totalSteps = max(1, totalSteps)
    }

    /// The rate of update `step` (see the type's formulas).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return Float(Double(peak) * Double(step) / Double(max(1, warmupSteps))) }
        let remaining = Double(max(1, totalSteps - warmupSteps))
        switch shape {
        case .constant:
            return peak
        case .linear:
            return Float(Double(peak) * max(0, Double(totalSteps - step) / remaining))
        case .cosine:
            let progress = Double(step - warmupSteps) / remaining
            return Float(Double(peak) * max(0, 0.5 * (1 + cos(Double.pi * progress))))
        }
    }
}
