import Foundation
import Models

/// Why a dataset could not be used. Every case names the file and, where there is one, the line
/// (JSONL) or record number (JSON array) and the field.
public enum DatasetError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file cannot be read.
    case unreadable(path: String, reason: String)
    /// A line or the whole file is not valid JSON, or a record is not an object.
    case malformed(path: String, line: Int, reason: String)
    /// A record lacks a field its format needs, or the field has the wrong type.
    case invalidField(path: String, line: Int, field: String, reason: String)
    /// A record matches none of the known formats.
    case unknownFormat(path: String, line: Int, keys: [String])
    /// The file (or what is left of it after filtering) holds no usable example.
    case empty(path: String, reason: String)
    /// A classification label is not in the label map.
    case unknownLabel(path: String, line: Int, label: String, known: [String])
    /// The chat template cannot format a record.
    case formatting(path: String, line: Int, reason: String)

    /// The file, line and reason in one sentence.
    public var description: String {
        switch self {
        case let .unreadable(path, reason): "\(path): cannot read the dataset: \(reason)"
        case let .malformed(path, line, reason): "\(path):\(line): malformed record: \(reason)"
        case let .invalidField(path, line, field, reason): "\(path):\(line): field '\(field)' \(reason)"
        case let .unknownFormat(path, line, keys):
            "\(path):\(line): the record's fields \(keys) match no dataset format (prompt/response, instruction/input/output, messages, prompt/completion, text, text/label)"
        case let .empty(path, reason): "\(path): no usable examples: \(reason)"
        case let .unknownLabel(path, line, label, known):
            "\(path):\(line): label '\(label)' is not one of the \(known.count) known labels \(known.prefix(20))"
        case let .formatting(path, line, reason): "\(path):\(line): cannot format the record: \(reason)"
        }
    }
}

/// Why training stopped with an error or could not start.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A training argument is out of range.
    case invalidArgument(name: String, reason: String)
    /// The loss or a gradient became NaN or infinite.
    case nonFinite(step: Int, what: String)
    /// The output folder already holds results and overwriting was not allowed.
    case outputExists(path: String)
    /// A checkpoint cannot be used to resume this run.
    case incompatibleCheckpoint(path: String, reason: String)
    /// A checkpoint folder is incomplete or damaged.
    case damagedCheckpoint(path: String, reason: String)
    /// The model and the dataset do not fit together (a classification set for a language model…).
    case taskMismatch(String)
    /// Writing a file failed.
    case file(path: String, reason: String)
    /// A callback ended the run (`TrainerControl.fail`).
    case callbackFailed(String)
    /// The run would need more memory than the machine allows (predicted by `TrainingMemory`).
    case insufficientMemory(needed: Int, limit: Int, breakdown: String)

    /// What went wrong, with the step, argument or path.
    public var description: String {
        switch self {
        case let .invalidArgument(name, reason): "training argument '\(name)': \(reason)"
        case let .nonFinite(step, what): "step \(step): \(what) is not finite (NaN or infinity); training stopped and nothing non-finite was saved"
        case let .outputExists(path): "\(path) already holds a trained adapter or checkpoints; pass --overwrite (overwriteOutput: true) or choose another folder"
        case let .incompatibleCheckpoint(path, reason): "\(path): cannot resume from this checkpoint: \(reason)"
        case let .damagedCheckpoint(path, reason): "\(path): damaged checkpoint: \(reason)"
        case let .taskMismatch(reason): "model and data do not fit: \(reason)"
        case let .file(path, reason): "\(path): \(reason)"
        case let .callbackFailed(reason): "training stopped: \(reason)"
        case let .insufficientMemory(needed, limit, breakdown):
            "this run needs about \(MachineMemory.describe(needed)) at its peak (\(breakdown)) but this machine allows \(MachineMemory.describe(limit)); "
                + "lower the batch size, the maximum length, the rank or the virtual tokens, or turn on gradient checkpointing"
        }
    }
}
