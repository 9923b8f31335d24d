import Foundation
import ModelIO

/// A self-contained HTML page of one or more training runs: SVG charts of the training and
/// evaluation losses, learning rate, gradient norm, throughput, task metrics (exact match or
/// accuracy/F1), the KL from the base model and the retain losses; each run's configuration; and a
/// note when a run looks overfitted. No script, font or style is fetched from anywhere.
///
/// `peftkit train` writes `report.html` into its output folder; `peftkit report DIR…` rebuilds it
/// from `metrics.jsonl` (several folders overlay their runs: a rank sweep becomes one picture).
public struct TrainingReport: Sendable {
    /// One run: its name, its logged rows and what describes it.
    public struct Run: Sendable {
        /// Shown in legends (several runs) and headings.
        public var name: String
        /// The rows of `metrics.jsonl` (or `Trainer.state.logHistory`).
        public var rows: [LogEntry]
        /// Configuration and results, as label and text.
        public var details: [(label: String, value: String)]

        /// A run from its parts.
        public init(name: String, rows: [LogEntry], details: [(label: String, value: String)] = []) {
            self.name = name
            self.rows = rows
            self.details = details
        }

        /// A run from an output folder: `metrics.jsonl`, with `summary.json` and `adapter_config.json`
        /// as details when present.
        /// - Throws: `TrainingError.file` when `metrics.jsonl` is missing or holds no row.
        public init(folder: URL) throws {
            let url = folder.appendingPathComponent("metrics.jsonl")
            let data: Data
            do { data = try InputFile.read(url) } catch let ModelFileError.unreadable(_, reason) {
                throw TrainingError.file(path: url.path, reason: "cannot read the metrics log: \(reason)")
            }
            var rows: [LogEntry] = []
            for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let members = (try? JSONValue.parse(String(line)))?.members else {
                    throw TrainingError.file(path: url.path, reason: "line \(index + 1) is not a JSON object")
                }
                var values: [String: Double] = [:]
                for (key, value) in members { if let number = value.number { values[key] = number } }
                guard let step = values.removeValue(forKey: "step") else { throw TrainingError.file(path: url.path, reason: "line \(index + 1) has no step") }
                let epoch = values.removeValue(forKey: "epoch") ?? 0
                rows.append(LogEntry(step: Int(step), epoch: epoch, values: values))
            }
            guard !rows.isEmpty else { throw TrainingError.file(path: url.path, reason: "the metrics log holds no row") }
            var details: [(String, String)] = []
            for name in ["summary.json", "adapter_config.json"] {
                guard let members = (try? JSONValue.parse(InputFile.read(folder.appendingPathComponent(name))))?.members else { continue }
                for (key, value) in members where !value.isNull { details.append((key, value.string ?? value.serialized())) }
            }
            self.init(name: folder.standardizedFileURL.lastPathComponent, rows: rows, details: details)
        }

        /// A run from a trainer that has trained, with its settings and summary.
        public init(trainer: Trainer, summary: TrainingSummary, name: String = "run", extra: [(label: String, value: String)] = []) {
            let a = trainer.arguments
            var details: [(String, String)] = [
                ("steps", "\(summary.steps) of \(trainer.state.totalSteps)"),
                ("examples", "\(trainer.trainDataset.count) (\(trainer.trainDataset.statistics.summary))"),
                ("trainable parameters", "\(trainer.model.trainableParameters().reduce(0) { $0 + $1.parameter.value.count })"),
                ("learning rate", "\(a.learningRate), \(a.schedule), warm-up \(a.warmupSteps) steps"),
                ("batch", "\(a.batchSize) × \(a.gradientAccumulationSteps) accumulation"),
                ("wall time", String(format: "%.1f s (%.1f s in steps)", summary.trainRuntime, summary.stepRuntime)),
            ]
            if let anchor = a.klAnchor, anchor > 0 { details.append(("KL anchor λ", "\(anchor)")) }
            for (key, value) in trainer.model.functionSettings.sorted(by: { $0.key < $1.key }) { details.append((key, value)) }
            self.init(name: name, rows: trainer.state.logHistory, details: details + extra)
        }
    }

    /// The runs shown (overlaid in every chart).
    public var runs: [Run]
    /// Evaluations of rising eval loss (with falling training loss) that make the overfitting note.
    public var overfittingWindow = 3

    /// A report of `runs`.
    public init(runs: [Run]) { self.runs = runs }

    /// The charts: a title and the logged names each one draws.
    static func chartPlan(_ names: Set<String>) -> [(title: String, keys: [String], logarithmic: Bool)] {
        let sorted = names.sorted()
        let plan: [(String, [String], Bool)] = [
            ("Loss (training and evaluation)", ["loss", "eval_loss"], false),
            ("Learning rate", ["learning_rate"], false),
            ("Gradient norm", ["grad_norm"], true),
            ("Throughput (tokens per second)", ["tokens_per_second"], false),
            ("Task metrics", ["eval_exact_match", "eval_accuracy", "eval_f1", "eval_precision", "eval_recall"], false),
            ("KL from the base model (nats per token)", ["eval_kl"] + sorted.filter { $0.hasPrefix("retain_") && $0.hasSuffix("_kl") }, false),
            ("Retain losses", sorted.filter { $0.hasPrefix("retain_") && $0.hasSuffix("_loss") }, false),
        ]
        return plan.map { ($0.0, $0.1.filter(names.contains), $0.2) }.filter { !$0.1.isEmpty }
    }

    /// The charts, as SVG elements.
    var charts: [SVGChart] {
        let names = Set(runs.flatMap { $0.rows.flatMap(\.values.keys) })
        return Self.chartPlan(names).map { title, keys, logarithmic in SVGChart(title: title, series: series(keys), logarithmic: logarithmic) }
    }

    /// A line per run and logged name in `keys` (named by the run when several are shown, and by the
    /// name when several keys share the chart).
    func series(_ keys: [String]) -> [SVGChart.Series] {
        var series: [SVGChart.Series] = []
        for run in runs {
            for key in keys {
                let points = run.rows.compactMap { row in row.values[key].map { (step: row.step, value: $0) } }
                guard !points.isEmpty else { continue }
                let name = runs.count > 1 ? (keys.count > 1 ? "\(run.name): \(key)" : run.name) : key
                series.append(SVGChart.Series(name: name, points: points))
            }
        }
        return series
    }

    /// One chart of the logged values `keys` of every run, as a standalone SVG document (for pages and
    /// guides of your own).
    public func chartSVG(title: String, keys: [String]) -> String {
        SVGChart(title: title, series: series(keys)).document
    }

    /// Notes on a run: overfitting, when the evaluation loss rose for the last `overfittingWindow`
    /// evaluations while the training loss fell over the same steps.
    public func notes(for run: Run) -> [String] {
        let evaluations = run.rows.compactMap { row in row.values["eval_loss"].map { (step: row.step, value: $0) } }
        guard evaluations.count > overfittingWindow else { return [] }
        let window = Array(evaluations.suffix(overfittingWindow + 1))
        guard zip(window, window.dropFirst()).allSatisfy({ $1.value > $0.value }) else { return [] }
        let training = run.rows.compactMap { row in row.values["loss"].map { (step: row.step, value: $0) } }
            .filter { $0.step >= window.first!.step && $0.step <= window.last!.step }
        guard let first = training.first, let last = training.last, last.value < first.value else { return [] }
        let best = evaluations.min { $0.value < $1.value }!
        return [String(format: "Overfitting: the evaluation loss rose for the last %d evaluations (%.4f → %.4f) while the training loss fell (%.4f → %.4f). "
                       + "The weights of step %d (the lowest evaluation loss, %.4f) may generalise better: keep checkpoints or use early stopping.",
                       overfittingWindow, window.first!.value, window.last!.value, first.value, last.value, best.step, best.value)]
    }

    /// The page.
    public var html: String {
        let title = runs.count == 1 ? "Training report: \(runs[0].name)" : "Training report: \(runs.count) runs"
        var out = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(SVGChart.escape(title))</title>
        <style>
        body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1340px; }
        h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
        table { border-collapse: collapse; font-size: 13px; margin-bottom: 8px; }
        td { border-bottom: 1px solid #e4e4e4; padding: 3px 12px 3px 0; vertical-align: top; } td:first-child { color: #666; }
        .note { background: #fff4e0; border-left: 4px solid #f28e2b; padding: 8px 12px; font-size: 14px; margin: 10px 0; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px; }
        .chart { background: #fff; border: 1px solid #ddd; }
        .chart .title { font-size: 14px; font-weight: 600; fill: #222; } .chart .tick, .chart .axis, .chart .legend { font-size: 11px; fill: #555; }
        .chart .frame { fill: none; stroke: #bbb; } .chart .grid { stroke: #eee; }
        </style></head><body>
        <h1>\(SVGChart.escape(title))</h1>

        """
        for run in runs {
            for note in notes(for: run) { out += "<p class=\"note\">\(runs.count > 1 ? SVGChart.escape(run.name) + ": " : "")\(SVGChart.escape(note))</p>\n" }
        }
        out += "<div class=\"charts\">\n" + charts.map(\.svg).joined() + "</div>\n"
        for run in runs where !run.details.isEmpty {
            out += "<h2>\(SVGChart.escape(run.name))</h2>\n<table>\n"
            for (label, value) in run.details { out += "<tr><td>\(SVGChart.escape(label))</td><td>\(SVGChart.escape(value))</td></tr>\n" }
            out += "</table>\n"
        }
        return out + "</body></html>\n"
    }

    /// Writes the page (atomically) to `url`.
    public func write(to url: URL) throws {
        do { try AtomicFile.write(Data(html.utf8), to: url) } catch let ModelFileError.unwritable(path, reason) {
            throw TrainingError.file(path: path, reason: "cannot write the report: \(reason)")
        }
    }
}
