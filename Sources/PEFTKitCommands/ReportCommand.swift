import Foundation
import Training

/// `peftkit report`: rebuild a run's `report.html` from its `metrics.jsonl`, or overlay several runs.
enum ReportCommand {
    static let help = """
    USAGE: peftkit report DIR [DIR …] [--output FILE]

    Writes a self-contained HTML report (SVG charts of the losses, learning rate, gradient norm,
    throughput, task metrics, KL from the base and retain losses; each run's configuration; an
    overfitting note) from the metrics.jsonl of each output folder DIR. Several folders are overlaid
    in every chart (a rank sweep becomes one picture).

    OPTIONS:
      --output FILE   Where the page goes (default DIR/report.html for one folder; needed for several)
      --help          Show this help

    """

    static func run(_ arguments: [String], output: CommandOutput) throws {
        var folders: [String] = []
        var destination: String?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--output" || argument.hasPrefix("--output=") {
                guard destination == nil else { throw UsageError("report: --output given twice") }
                if argument.hasPrefix("--output=") {
                    destination = String(argument.dropFirst("--output=".count))
                } else {
                    guard index < arguments.count else { throw UsageError("report: --output needs a value") }
                    destination = arguments[index]
                    index += 1
                }
            } else if argument.hasPrefix("--") {
                throw UsageError("report: unknown option '\(argument)' (see 'peftkit report --help')")
            } else {
                folders.append(argument)
            }
        }
        guard !folders.isEmpty else { throw UsageError("report: give the output folder of a run (or several)") }
        for folder in folders {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw UsageError("report: \(folder) is not a folder; give the --output folder of a training run")
            }
        }
        guard let target = destination ?? (folders.count == 1 ? URL(fileURLWithPath: folders[0]).appendingPathComponent("report.html").path : nil) else {
            throw UsageError("report: several runs need --output FILE")
        }
        let url = try PathChecks.required(target, flag: "output", command: "report")
        try PathChecks.refuseFolder(url, flag: "output", command: "report")
        // The files the report reads are never replaced by it.
        let inputs = folders.flatMap { folder in ["metrics.jsonl", "summary.json", "adapter_config.json"].map { ("report", URL(fileURLWithPath: folder).appendingPathComponent($0).path) } }
        try PathChecks.refuseOverlap(url, flag: "output", inputs: inputs.map { (flag: $0.0, path: $0.1) }, currentDirectory: false, command: "report")
        var runs = try folders.map { try TrainingReport.Run(folder: URL(fileURLWithPath: $0)) }
        // Legends must tell the runs apart: folders of one name are shown by their paths, repeats numbered.
        let names = runs.map(\.name)
        var seen: [String: Int] = [:]
        for index in runs.indices {
            var name = names.filter { $0 == names[index] }.count > 1 ? folders[index] : names[index]
            seen[name, default: 0] += 1
            if seen[name]! > 1 { name += " (\(seen[name]!))" }
            runs[index].name = name
        }
        let report = TrainingReport(runs: runs)
        try report.write(to: url)
        output.standardOutput(url.path + "\n")
    }
}
