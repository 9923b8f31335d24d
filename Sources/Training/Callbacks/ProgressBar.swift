import Foundation

/// Shows step, epoch, loss, learning rate, tokens per second and the time left. On a terminal it
/// redraws one line; otherwise (a log file, CI) it prints one plain line per logging step.
public final class ProgressBar: TrainerCallback {
    private let write: (String) -> Void
    private let interactive: Bool
    private var start = Date()
    private var startStep = 0
    private var tokensAtStart = 0
    private var lastLoss: Double?
    private var lastEval: String = ""

    /// - Parameters:
    ///   - handle: where to draw (standard error by default, so standard output stays for results).
    ///   - interactive: redraw in place (default: whether `handle` is a terminal).
    public init(handle: FileHandle = .standardError, interactive: Bool? = nil) {
        self.interactive = interactive ?? (isatty(handle.fileDescriptor) == 1)
        self.write = { handle.write(Data($0.utf8)) }
    }

    /// Writes through `write` (tests, custom sinks); never interactive.
    public init(write: @escaping (String) -> Void) {
        self.interactive = false
        self.write = write
    }

    /// Prints what the run will do: steps, examples, data statistics, trainable parameters.
    public func onTrainBegin(_ trainer: Trainer) {
        start = Date()
        startStep = trainer.state.step
        tokensAtStart = trainer.state.trainedTokens
        let d = trainer.trainDataset
        write("training \(trainer.state.totalSteps) steps on \(d.count) examples (\(d.statistics.summary)); \(trainer.model.trainableParameters().reduce(0) { $0 + $1.parameter.value.count }) trainable parameters\n")
    }

    /// Redraws the line (terminal only).
    public func onStepEnd(_ trainer: Trainer) -> TrainerControl {
        if interactive { write("\r" + line(trainer) + "\u{1B}[K") }
        return .proceed
    }

    /// Prints a line per logged row (every row when not a terminal; evaluations always).
    public func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl {
        if let loss = entry.values["loss"] { lastLoss = loss }
        let retainKLs = entry.values.keys.filter { $0.hasPrefix("retain_") && $0.hasSuffix("_kl") }.sorted()
        if entry.values["eval_loss"] != nil || !retainKLs.isEmpty {
            var parts: [String] = entry.values["eval_loss"].map { [String(format: "eval_loss %.4f", $0)] } ?? []
            for key in ["eval_exact_match", "eval_accuracy", "eval_f1", "eval_kl"] {
                if let value = entry.values[key] { parts.append(String(format: "%@ %.4f", String(key.dropFirst(5)), value)) }
            }
            for key in retainKLs { parts.append(String(format: "%@ %.4f", key, entry.values[key]!)) }
            let text = parts.joined(separator: " ")
            lastEval = text
            write((interactive ? "\r\u{1B}[K" : "") + "step \(entry.step): \(text)\n")
        } else if !interactive {
            write(line(trainer) + "\n")
        }
        return .proceed
    }

    /// Finishes the redrawn line.
    public func onTrainEnd(_ trainer: Trainer) {
        if interactive { write("\r" + line(trainer) + "\u{1B}[K\n") }
    }

    private func line(_ trainer: Trainer) -> String {
        let state = trainer.state
        let elapsed = Date().timeIntervalSince(start)
        let done = state.step - startStep
        let rate = elapsed > 0 ? Double(state.trainedTokens - tokensAtStart) / elapsed : 0
        let remaining = done > 0 ? elapsed / Double(done) * Double(state.totalSteps - state.step) : 0
        let width = 24
        let filled = state.totalSteps == 0 ? 0 : min(width, width * state.step / state.totalSteps)
        let bar = interactive ? "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] " : ""
        let loss = lastLoss.map { String(format: "%.4f", $0) } ?? "-"
        return "\(bar)step \(state.step)/\(state.totalSteps) epoch \(String(format: "%.2f", state.fractionalEpoch)) loss \(loss) lr \(String(format: "%.3g", trainer.lastLearningRate)) \(Int(rate)) tok/s ETA \(Self.duration(remaining))"
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
