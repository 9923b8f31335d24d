import Foundation
import ModelIO

/// Appends every logged row to a file as it happens: JSON Lines (`{"step": …, "epoch": …, "loss": …}`)
/// or CSV (one column per value name seen so far; the header is rewritten when new names appear).
/// Only finite values are written. On resume the file is cut back to the rows up to the checkpoint's step.
public final class MetricsLog: TrainerCallback {
    /// The file layout.
    public enum Format: Sendable { case jsonLines, csv }

    /// The file written.
    public let url: URL
    /// Its layout.
    public let format: Format
    private var rows: [LogEntry] = []

    /// A log written to `url` in `format`.
    public init(url: URL, format: Format = .jsonLines) {
        self.url = url
        self.format = format
    }

    /// Unique per log file.
    public var checkpointKey: String { "MetricsLog:" + url.lastPathComponent }

    /// Writes the rows logged so far (all of them after a resume, so the file matches the run).
    public func onTrainBegin(_ trainer: Trainer) {
        rows = trainer.state.logHistory
        rewrite()
    }

    /// Appends the row; a file that cannot be written ends the run naming it (`.fail`).
    public func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl {
        rows.append(entry)
        if failure == nil {
            if format == .jsonLines {
                do { try AtomicFile.append(Data((Self.json(entry) + "\n").utf8), to: url) } catch { failure = "\(error)" }
            } else {
                rewrite()
            }
        }
        return failure.map { .fail("metrics log: \($0)") } ?? .proceed
    }

    /// Reports a failure of the rewrite at the start.
    public func onStepEnd(_ trainer: Trainer) -> TrainerControl {
        failure.map { .fail("metrics log: \($0)") } ?? .proceed
    }

    /// The first write error (the file keeps its last complete content).
    private var failure: String?

    private func rewrite() {
        let text: String
        switch format {
        case .jsonLines: text = rows.map { Self.json($0) + "\n" }.joined()
        case .csv:
            let names = Array(Set(rows.flatMap(\.values.keys))).sorted()
            var lines = [(["step", "epoch"] + names).joined(separator: ",")]
            for row in rows {
                lines.append(([String(row.step), String(format: "%.4f", row.epoch)] + names.map { row.values[$0].map { "\($0)" } ?? "" }).joined(separator: ","))
            }
            text = lines.joined(separator: "\n") + "\n"
        }
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(Data(text.utf8), to: url)
        } catch {
            failure = failure ?? "\(error)"
        }
    }

    static func json(_ entry: LogEntry) -> String {
        var fields = entry.values
        fields["step"] = Double(entry.step)
        fields["epoch"] = entry.epoch
        return JSONLine.object(fields)
    }
}
