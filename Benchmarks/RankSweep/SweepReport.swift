import Foundation

/// The sweep's Markdown table and SVG charts, written into the output folder.
struct SweepReport {
    let results: [SweepResult]
    let options: SweepOptions

    var machine: String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }

    var markdown: String {
        var lines = [
            "# Rank sweep: SmolLM2-135M-Instruct, date task",
            "",
            "Machine: \(machine). Release build. Budget per configuration: \(options.steps) steps of batch 8, lr \(options.learningRate) (rows marked lr= their own),"
                + " α = 2r (VeRA has none), dropout 0.05 (LoRA, DoRA, VeRA); AdaLoRA starts at 1.5 r and prunes to r between steps"
                + " \(options.steps / 10) and \(options.steps - options.steps / 4); eval on \(options.evalExamples) held-out records"
                + " (exact match: greedy, 32 tokens at most).",
            "",
            "| configuration | trainable | s/step | tokens/s | peak RSS (MB) | eval loss | exact match |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results {
            lines.append("| \(r.configuration.name) | \(r.trainableParameters) | \(String(format: "%.2f", r.secondsPerStep)) | "
                         + "\(String(format: "%.0f", r.tokensPerSecond)) | \(String(format: "%.0f", r.peakResidentMegabytes)) | "
                         + "\(String(format: "%.4f", r.evalLoss)) | \(String(format: "%.1f %%", 100 * r.exactMatch)) |")
        }
        lines += ["", "![eval loss of LoRA by rank](eval_loss.svg)", "", "![eval loss of each method beside LoRA r = 8](methods_eval_loss.svg)", "",
                  "![exact match vs trainable parameters](exact_match.svg)", ""]
        // What a person wrote about the results (how they were run, what they show) stays with them.
        if let notes = try? String(contentsOf: options.output.appendingPathComponent("rank_sweep_notes.md"), encoding: .utf8) {
            lines += [notes]
        }
        return lines.joined(separator: "\n")
    }

    func write() throws {
        try FileManager.default.createDirectory(at: options.output, withIntermediateDirectories: true)
        try Data(markdown.utf8).write(to: options.output.appendingPathComponent("rank_sweep.md"), options: .atomic)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(results.map(\.saved)).write(to: options.output.appendingPathComponent("rank_sweep.json"), options: .atomic)
        try Data(lossChart.utf8).write(to: options.output.appendingPathComponent("eval_loss.svg"), options: .atomic)
        try Data(exactMatchChart.utf8).write(to: options.output.appendingPathComponent("exact_match.svg"), options: .atomic)
        try Data(methodsChart.utf8).write(to: options.output.appendingPathComponent("methods_eval_loss.svg"), options: .atomic)
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                          "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"]

    /// Eval loss against step, one line per configuration of `rows` (all by default).
    func lossChart(title: String, rows: [SweepResult]) -> String {
        let curves = rows.map(\.evalLossCurve)
        let steps = curves.flatMap { $0.map { Double($0.0) } }
        let losses = curves.flatMap { $0.map(\.1) }.filter(\.isFinite)
        var chart = SVGChart(title: title, xLabel: "step", yLabel: "eval loss",
                             xRange: 0...max(1, steps.max() ?? 1), yRange: 0...max(0.01, (losses.max() ?? 1) * 1.05))
        for (index, (result, curve)) in zip(rows, curves).enumerated() {
            chart.line(curve.map { (Double($0.0), $0.1) }, style: SVGChart.style(index), label: result.configuration.name)
        }
        return chart.svg
    }

    /// The LoRA rank sweep's curves (the other methods have their own chart).
    var lossChart: String {
        lossChart(title: "Eval loss, LoRA by rank", rows: results.filter { $0.configuration.method == "lora" && $0.configuration.learningRate == nil })
    }

    /// The methods other than LoRA's rank sweep, beside LoRA r = 8 on q_proj,v_proj.
    var methodsChart: String {
        lossChart(title: "Eval loss by method (q_proj,v_proj)",
                  rows: results.filter { $0.configuration.method != "lora" || ($0.configuration.rank == 8 && $0.configuration.targetName == "q_proj,v_proj") })
    }

    /// Exact match against trainable parameters (log scale), one point per configuration.
    var exactMatchChart: String {
        let counts = results.map { log10(Double(max(1, $0.trainableParameters))) }
        var chart = SVGChart(title: "Exact match vs trainable parameters", xLabel: "log10(trainable parameters)", yLabel: "exact match",
                             xRange: ((counts.min() ?? 4) - 0.2)...((counts.max() ?? 6) + 0.2), yRange: 0...1)
        for (index, result) in results.enumerated() {
            chart.point((counts[index], result.exactMatch.isFinite ? result.exactMatch : 0), style: SVGChart.style(index), label: result.configuration.name)
        }
        return chart.svg
    }
}

/// A minimal line and scatter chart written as SVG text.
struct SVGChart {
    let title: String, xLabel: String, yLabel: String
    let xRange: ClosedRange<Double>, yRange: ClosedRange<Double>
    private var marks: [String] = []
    private var legend: [(style: Style, label: String, isPoint: Bool)] = []
    let width = 800.0, plotHeight = 420.0, left = 70.0, right = 260.0, top = 40.0, bottom = 50.0
    /// Tall enough for the legend.
    var height: Double { max(plotHeight, top + Double(legend.count) * 17 + 10) }

    /// How one series is drawn: a colour, and past the palette a dash pattern (lines) or a square (points).
    struct Style {
        let color: String
        let dashed: Bool
    }

    /// The style of the `index`-th series: the palette's colours, solid, then again dashed.
    static func style(_ index: Int) -> Style {
        Style(color: SweepReport.palette[index % SweepReport.palette.count], dashed: (index / SweepReport.palette.count) % 2 == 1)
    }

    init(title: String, xLabel: String, yLabel: String, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xRange = xRange
        self.yRange = yRange
    }

    func x(_ value: Double) -> Double {
        left + (value - xRange.lowerBound) / max(1e-12, xRange.upperBound - xRange.lowerBound) * (width - left - right)
    }
    func y(_ value: Double) -> Double {
        plotHeight - bottom - (value - yRange.lowerBound) / max(1e-12, yRange.upperBound - yRange.lowerBound) * (plotHeight - top - bottom)
    }

    mutating func line(_ points: [(Double, Double)], style: Style, label: String) {
        let finite = points.filter { $0.1.isFinite }
        guard !finite.isEmpty else { return }
        let path = finite.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
        marks.append("<polyline fill=\"none\" stroke=\"\(style.color)\" stroke-width=\"2\"\(style.dashed ? " stroke-dasharray=\"6 4\"" : "") points=\"\(path)\"/>")
        legend.append((style, label, false))
    }

    mutating func point(_ point: (Double, Double), style: Style, label: String) {
        marks.append(Self.marker(at: (x(point.0), y(point.1)), style: style))
        legend.append((style, label, true))
    }

    /// A circle, or a square for the second round of colours.
    static func marker(at center: (Double, Double), style: Style) -> String {
        style.dashed
            ? String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/>", center.0 - 5, center.1 - 5, style.color)
            : String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%@\"/>", center.0, center.1, style.color)
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    var svg: String {
        var parts = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
                     "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                     "<text x=\"\(Int(left))\" y=\"24\" font-size=\"15\">\(Self.escaped(title))</text>"]
        let plotRight = width - right, plotBottom = plotHeight - bottom
        parts.append("<line x1=\"\(left)\" y1=\"\(plotBottom)\" x2=\"\(plotRight)\" y2=\"\(plotBottom)\" stroke=\"black\"/>")
        parts.append("<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(plotBottom)\" stroke=\"black\"/>")
        for tick in 0...4 {
            let xv = xRange.lowerBound + Double(tick) / 4 * (xRange.upperBound - xRange.lowerBound)
            let yv = yRange.lowerBound + Double(tick) / 4 * (yRange.upperBound - yRange.lowerBound)
            parts.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>", x(xv), plotBottom + 16, String(format: "%.3g", xv)))
            parts.append(String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>", left - 6, y(yv) + 4, String(format: "%.3g", yv)))
            parts.append(String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, y(yv), plotRight, y(yv)))
        }
        parts.append("<text x=\"\((left + plotRight) / 2)\" y=\"\(plotHeight - 12)\" text-anchor=\"middle\">\(Self.escaped(xLabel))</text>")
        parts.append("<text x=\"16\" y=\"\((top + plotBottom) / 2)\" transform=\"rotate(-90 16 \((top + plotBottom) / 2))\" text-anchor=\"middle\">\(Self.escaped(yLabel))</text>")
        parts += marks
        for (index, entry) in legend.enumerated() {
            let ly = top + Double(index) * 17
            if entry.isPoint {
                parts.append(Self.marker(at: (plotRight + 19, ly - 4), style: entry.style))
            } else {
                parts.append("<line x1=\"\(plotRight + 8)\" y1=\"\(ly - 4)\" x2=\"\(plotRight + 30)\" y2=\"\(ly - 4)\" stroke=\"\(entry.style.color)\" stroke-width=\"2\"\(entry.style.dashed ? " stroke-dasharray=\"6 4\"" : "")/>")
            }
            parts.append("<text x=\"\(plotRight + 36)\" y=\"\(ly)\">\(Self.escaped(entry.label))</text>")
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }
}
