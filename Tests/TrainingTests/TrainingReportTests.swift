import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Training

/// The training report (issue 28, item 3): charts checked as XML against the metrics they plot.
@Suite struct TrainingReportTests {
    /// Circles of every series of every chart: (chart title, series name, step, value, cx, cy).
    final class Circles: NSObject, XMLParserDelegate {
        var title = "", series = "", inTitle = false
        var found: [(chart: String, series: String, step: Int, value: Double, x: Double, y: Double)] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if name == "svg" { title = attributes["aria-label"] ?? "" }
            if name == "g" { series = attributes["data-name"] ?? "" }
            if name == "circle", let step = attributes["data-step"].flatMap(Int.init), let value = attributes["data-value"].flatMap(Double.init),
               let x = attributes["cx"].flatMap(Double.init), let y = attributes["cy"].flatMap(Double.init) {
                found.append((title, series, step, value, x, y))
            }
        }
    }

    static func circles(_ html: String) throws -> [(chart: String, series: String, step: Int, value: Double, x: Double, y: Double)] {
        var all: [(chart: String, series: String, step: Int, value: Double, x: Double, y: Double)] = []
        var rest = html[...]
        while let start = rest.range(of: "<svg"), let end = rest.range(of: "</svg>", range: start.upperBound..<rest.endIndex) {
            let parser = XMLParser(data: Data(rest[start.lowerBound..<end.upperBound].utf8))
            let delegate = Circles()
            parser.delegate = delegate
            #expect(parser.parse(), "each chart is well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
            all += delegate.found
            rest = rest[end.upperBound...]
        }
        return all
    }

    func rows() -> [LogEntry] {
        var rows: [LogEntry] = []
        for step in stride(from: 10, through: 60, by: 10) {
            rows.append(LogEntry(step: step, epoch: Double(step) / 60, values: ["loss": 2.0 / Double(step), "learning_rate": 1e-3, "grad_norm": 0.5 + Double(step) / 100,
                                                                               "tokens_per_second": 600 + Double(step)]))
            if step % 20 == 0 || step == 10 {
                rows.append(LogEntry(step: step, epoch: Double(step) / 60, values: ["eval_loss": 0.3 + Double(step) / 1000, "eval_exact_match": Double(step) / 100,
                                                                                   "retain_general_kl": Double(step) / 40, "retain_general_loss": 1 + Double(step) / 50]))
            }
        }
        return rows
    }

    @Test("every plotted point is a logged value at its step, placed by the chart's scale; an overfitted run gets a note")
    func chartsMatchTheMetrics() throws {
        let run = TrainingReport.Run(name: "dates", rows: rows(), details: [("rank", "8 <r>")])
        let report = TrainingReport(runs: [run])
        let html = report.html
        #expect(!html.contains("<script") && !html.contains("http://") || html.contains("http://www.w3.org/2000/svg"), "self-contained")
        #expect(html.contains("8 &lt;r&gt;"), "text is escaped")
        let circles = try Self.circles(html)
        let logged = rows().flatMap { row in row.values.map { (row.step, $0.key, $0.value) } }
        #expect(circles.count == logged.count, "one point per logged value")
        for (step, key, value) in logged {
            #expect(circles.contains { $0.series == key && $0.step == step && $0.value == value }, "\(key) at \(step)")
        }
        for chart in report.charts {
            for line in chart.series {
                for point in line.points {
                    let at = chart.position(step: point.step, value: point.value)
                    let drawn = circles.first { $0.chart == chart.title && $0.series == line.name && $0.step == point.step }
                    #expect(drawn.map { abs($0.x - at.x) < 0.01 && abs($0.y - at.y) < 0.01 } == true, "\(line.name) at \(point.step)")
                }
                // A larger value is drawn higher (smaller y).
                let ys = line.points.sorted { $0.value < $1.value }.map { chart.position(step: $0.step, value: $0.value).y }
                #expect(zip(ys, ys.dropFirst()).allSatisfy { $0 >= $1 })
            }
        }
        #expect(Set(report.charts.map(\.title)).isSuperset(of: ["Loss (training and evaluation)", "KL from the base model (nats per token)", "Task metrics"]))
        // Eval loss rose for the last 3 evaluations (steps 20, 40, 60 after 10) while training loss fell.
        let notes = report.notes(for: run)
        #expect(notes.count == 1 && notes[0].hasPrefix("Overfitting: the evaluation loss rose for the last 3 evaluations"), "\(notes)")
        #expect(html.contains("class=\"note\""))
        var falling = rows()
        for index in falling.indices where falling[index].values["eval_loss"] != nil { falling[index].values["eval_loss"] = 1 / Double(falling[index].step) }
        #expect(report.notes(for: TrainingReport.Run(name: "fine", rows: falling)).isEmpty)
    }

    @Test("a run read back from its output folder overlays with another; a missing or empty log is a typed error")
    func runsFromFolders() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 1e-2, maxSteps: 4, batchSize: 4)
        arguments.handlesInterrupt = false
        arguments.loggingSteps = 1
        let data = try TrainingFixture.dataset()
        let trainer = try Trainer(model: try TrainingFixture.lora(), arguments: arguments, train: data, eval: data,
                                  callbacks: [MetricsLog(url: output.appendingPathComponent("metrics.jsonl"))])
        let summary = try trainer.train()
        let read = try TrainingReport.Run(folder: output)
        #expect(read.rows.count == trainer.state.logHistory.count)
        for (a, b) in zip(read.rows, trainer.state.logHistory) {
            #expect(a.step == b.step && Set(a.values.keys) == Set(b.values.keys))
            for (key, value) in b.values { #expect(abs(a.values[key]! - value) <= 1e-12 * max(1, abs(value)), "\(key)") }
        }
        #expect(read.details.contains { $0.label == "r" }, "adapter_config.json fields are details")
        let fromTrainer = TrainingReport.Run(trainer: trainer, summary: summary, name: "live")
        #expect(fromTrainer.details.contains { $0.label == "trainable parameters" })
        let overlay = TrainingReport(runs: [read, fromTrainer]).html
        #expect(try Self.circles(overlay).contains { $0.series == "live: loss" } && overlay.contains(">\(output.lastPathComponent): loss<"))
        #expect(throws: TrainingError.self) { try TrainingReport.Run(folder: output.appendingPathComponent("missing")) }
        try Data().write(to: output.appendingPathComponent("metrics.jsonl"))
        #expect(throws: TrainingError.self) { try TrainingReport.Run(folder: output) }
        for (text, reason) in [("{\"step\": 1, \"loss\": 2}\n[1, 2]\n", "line 2 is not a JSON object"), ("{\"loss\": 2}\n", "line 1 has no step")] {
            try Data(text.utf8).write(to: output.appendingPathComponent("metrics.jsonl"))
            #expect { try TrainingReport.Run(folder: output) } throws: { "\($0)".contains(reason) }
        }
    }
}
