import Foundation
import ModelIO

/// Writes every logged row as TensorBoard scalars, in the `tfevents` record format written by the
/// project itself: each record is its length (UInt64, little-endian), the masked CRC-32C of the
/// length, an `Event` protocol-buffer message, and the masked CRC-32C of the message. The first
/// event carries `file_version: "brain.Event:2"`; each row is one event (`wall_time`, `step`) with a
/// `Summary` of `simple_value` scalars.
///
/// Tags follow Hugging Face's Trainer: `eval_loss` → `eval/loss`, `retain_general_kl` →
/// `retain/general_kl`, other names (`loss`, `learning_rate`, `grad_norm`) → `train/<name>`. Only
/// finite values are written. The file is `events.out.tfevents.<seconds>.<host>.<pid>` in `folder`;
/// a resumed run starts a new file beside the old one, as TensorBoard expects.
public final class TensorBoardLog: TrainerCallback {
    /// The folder holding the event files (`tensorboard --logdir` it).
    public let folder: URL
    /// The file this run writes, once training began.
    public private(set) var file: URL?
    private var failure: String?

    /// Event files in `folder` (created when needed).
    public init(folder: URL) { self.folder = folder }

    /// Starts a new event file with its version record.
    public func onTrainBegin(_ trainer: Trainer) {
        let host = ProcessInfo.processInfo.hostName.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
        let url = folder.appendingPathComponent("events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid())")
        file = url
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try AtomicFile.append(Self.record(Self.event(wallTime: Date().timeIntervalSince1970, step: Int64(trainer.state.step), fileVersion: "brain.Event:2")), to: url)
        } catch {
            failure = "\(error)"
        }
    }

    /// Appends the row's scalars; a file that cannot be written ends the run naming it.
    public func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl {
        if failure == nil, let file {
            let scalars = entry.values.filter { $0.value.isFinite }.map { (Self.tag($0.key), Float($0.value)) }.sorted { $0.0 < $1.0 }
            do {
                try AtomicFile.append(Self.record(Self.event(wallTime: Date().timeIntervalSince1970, step: Int64(entry.step), scalars: scalars)), to: file)
            } catch {
                failure = "\(error)"
            }
        }
        return failure.map { .fail("TensorBoard log: \($0)") } ?? .proceed
    }

    /// Reports a failure to start the file.
    public func onStepEnd(_ trainer: Trainer) -> TrainerControl { failure.map { .fail("TensorBoard log: \($0)") } ?? .proceed }

    /// The TensorBoard tag of a logged value's name.
    public static func tag(_ name: String) -> String {
        for prefix in ["eval", "retain"] where name.hasPrefix(prefix + "_") { return prefix + "/" + name.dropFirst(prefix.count + 1) }
        return "train/" + name
    }

    // MARK: The format

    /// One framed record: length, masked CRC of the length, data, masked CRC of the data.
    static func record(_ data: [UInt8]) -> Data {
        var out = Data()
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out.append(contentsOf: length)
        withUnsafeBytes(of: CRC32C.masked(length).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: data)
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// An `Event` message: wall_time (1, double), step (2, int64), file_version (3, string) or a
    /// summary (5) of `Summary.Value { tag (1), simple_value (2, float) }`.
    static func event(wallTime: Double, step: Int64, fileVersion: String? = nil, scalars: [(String, Float)] = []) -> [UInt8] {
        var message: [UInt8] = [0x09]
        withUnsafeBytes(of: wallTime.bitPattern.littleEndian) { message += $0 }
        message += [0x10] + varint(UInt64(bitPattern: step))
        if let fileVersion { message += [0x1A] + lengthDelimited(Array(fileVersion.utf8)) }
        if !scalars.isEmpty {
            var summary: [UInt8] = []
            for (tag, value) in scalars {
                var entry: [UInt8] = [0x0A] + lengthDelimited(Array(tag.utf8))
                entry += [0x15]
                withUnsafeBytes(of: value.bitPattern.littleEndian) { entry += $0 }
                summary += [0x0A] + lengthDelimited(entry)
            }
            message += [0x2A] + lengthDelimited(summary)
        }
        return message
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        repeat {
            let low = UInt8(value & 0x7F)
            value >>= 7
            bytes.append(value == 0 ? low : low | 0x80)
        } while value != 0
        return bytes
    }

    static func lengthDelimited(_ bytes: [UInt8]) -> [UInt8] { varint(UInt64(bytes.count)) + bytes }
}
