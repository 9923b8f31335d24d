import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tokenizers
import Training

/// Loading models, data and adapters for `train` and `eval`.
enum TrainingSetup {
    /// The model at `path` ready for `task`: a causal language model, or (for classification data) a
    /// BERT encoder with a classification head of `labels` classes.
    static func model(at url: URL, classification labels: Int?, quantization: WeightQuantization = .none) throws -> Module {
        guard let labels else { return try AutoModelForCausalLM.load(from: url, quantization: quantization) }
        guard quantization == .none else { throw UsageError("--quantization applies to causal language models, not to classification with BERT") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue,
              (try? JSONValue.parse(InputFile.read(url.appendingPathComponent("config.json"))))?["model_type"]?.string == "bert" else {
            throw UsageError("classification data needs a BERT folder (model_type \"bert\", such as all-MiniLM-L6-v2) as --model")
        }
        return try BertForSequenceClassification.load(encoderFolder: url, labels: labels)
    }

    /// `--targets`: a comma-separated list of names, `all-linear`, or a regular expression.
    static func targets(_ text: String) throws -> TargetModules {
        if text == "all-linear" { return .allLinear }
        if text.contains(where: { "\\^$*+?()[]{}|".contains($0) }) { return .pattern(text) }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else { throw UsageError("train: --targets expects names separated by commas, all-linear, or a regular expression") }
        return .names(names)
    }

    /// The process's peak resident memory in MB.
    static var peakResidentMegabytes: Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024  // kilobytes
        #else
        getrusage(RUSAGE_SELF, &usage)
        return Double(usage.ru_maxrss) / 1_048_576  // bytes
        #endif
    }

    /// Hugging Face `TrainingArguments` names (as in a `training_args.json`) with a `train` option.
    static let huggingFaceNames: [String: String] = [
        "per_device_train_batch_size": "batch-size", "num_train_epochs": "epochs", "gradient_accumulation_steps": "gradient-accumulation",
        "lr_scheduler_type": "schedule", "eval_steps": "eval-every", "save_steps": "save-every", "output_dir": "output",
        "overwrite_output_dir": "overwrite",
    ]

    /// A `--config FILE.json` object as arguments: each key is an option name (`"rank": 16`,
    /// `"learning-rate": 1e-4`, `"overwrite": true`; `_` may stand for `-`), or a Hugging Face
    /// `TrainingArguments` name (`per_device_train_batch_size`, `num_train_epochs` …). `null` means
    /// unset, as does `max_steps: -1`. In a Hugging Face file (one with `output_dir` or
    /// `per_device_train_batch_size`), settings peftkit has no option for are returned in `ignored`
    /// for a warning; elsewhere an unknown key is an error. Explicit command-line options come after,
    /// so they win.
    static func configArguments(_ url: URL, options: Set<String>, flags: Set<String>, command: String) throws -> (arguments: [String], ignored: [String]) {
        let data: Data
        do { data = try InputFile.read(url) } catch let ModelFileError.unreadable(_, reason) { throw UsageError("\(command): cannot read --config \(url.path): \(reason)") }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw UsageError("\(command): --config \(url.path) is not valid JSON: \(error)") }
        guard let members = json.members else { throw UsageError("\(command): --config \(url.path) must hold a JSON object of option names") }
        var arguments: [String] = [], ignored: [String] = []
        let fromHuggingFace = members.contains { $0.key == "output_dir" || $0.key == "per_device_train_batch_size" }
        for (rawKey, value) in members {
            if value.isNull || (rawKey == "max_steps" && (value.number ?? 0) <= 0) { continue }  // unset
            // As in Hugging Face, a positive max_steps overrides num_train_epochs.
            if rawKey == "num_train_epochs", let steps = members.last(where: { $0.key == "max_steps" })?.value.number, steps > 0 { continue }
            let key = Self.huggingFaceNames[rawKey] ?? rawKey.replacingOccurrences(of: "_", with: "-")
            if flags.contains(key) {
                guard let on = value.bool else { throw UsageError("\(command): --config key '\(rawKey)' is a switch; use true or false") }
                if on { arguments.append("--" + key) }
            } else if options.contains(key), key != "config" {
                let text: String
                if let string = value.string { text = string }
                else if let number = value.number { text = number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number) }
                else if let list = value.array, list.allSatisfy({ $0.string != nil }) { text = list.compactMap(\.string).joined(separator: ",") }
                else { throw UsageError("\(command): --config key '\(rawKey)' must be a string, a number or a list of strings") }
                arguments += ["--" + key, text]
            } else if fromHuggingFace {
                ignored.append(rawKey)
            } else {
                throw UsageError("\(command): --config key '\(rawKey)' is not an option of 'peftkit \(command)'")
            }
        }
        return (arguments, ignored)
    }
}
