import Foundation
import Tokenizers
import Training

/// `--retain [NAME=]FILE` (repeatable) and `--max-retain-kl X`: general data the model should keep
/// answering as its base did, measured at every evaluation (`retain_<NAME>_kl`).
enum RetainOption {
    /// The named retain sets, loaded in any dataset format (detected per file) with the run's prompt
    /// format and maximum length. A name defaults to the file's name without its extension.
    static func datasets(_ parsed: ParsedArguments, tokenizer: Tokenizer, prompt: PromptFormat, maxLength: Int, quiet: Bool,
                         output: CommandOutput, command: String) throws -> [(name: String, dataset: TrainingDataset)] {
        try parsed.values("retain").map { specification in
            let (name, path) = split(specification)
            guard !path.isEmpty else { throw UsageError("\(command): --retain \(specification) names no file") }
            try PathChecks.requireInput(path, flag: "retain", folder: false, command: command)
            let dataset = try TrainingDataset.load(URL(fileURLWithPath: path), tokenizer: tokenizer, prompt: prompt, maxLength: maxLength,
                                                   progress: quiet ? nil : PreparationProgress(path: path, output: output).report)
            guard case .languageModeling = dataset.task else {
                throw UsageError("\(command): --retain \(path) is a classification set; retain sets hold text, prompts and answers, or conversations")
            }
            return (name, dataset)
        }
    }

    /// `NAME=FILE` or `FILE` (named after the file: `general.jsonl` → `general`, other characters → `_`).
    static func split(_ specification: String) -> (name: String, path: String) {
        if let equals = specification.firstIndex(of: "="), !specification[..<equals].contains("/") {
            return (String(specification[..<equals]), String(specification[specification.index(after: equals)...]))
        }
        let stem = URL(fileURLWithPath: specification).deletingPathExtension().lastPathComponent
        let name = String(stem.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") ? $0 : "_" }.prefix(64))
        return (name.isEmpty ? "retain" : name, specification)
    }

    /// `--retain-mix FILE:FRACTION`: `train` with replay examples from FILE mixed in to make up FRACTION.
    static func mixing(_ train: TrainingDataset, _ parsed: ParsedArguments, tokenizer: Tokenizer, prompt: PromptFormat, maxLength: Int, seed: UInt64,
                       command: String) throws -> TrainingDataset {
        guard let specification = parsed.value("retain-mix") else { return train }
        guard let colon = specification.lastIndex(of: ":"), let fraction = Double(specification[specification.index(after: colon)...]),
              fraction.isFinite, fraction > 0, fraction <= 0.9 else {
            throw UsageError("\(command): --retain-mix expects FILE:FRACTION with a fraction in (0, 0.9], got '\(specification)'")
        }
        let path = String(specification[..<colon])
        try PathChecks.requireInput(path, flag: "retain-mix", folder: false, command: command)
        let replay = try TrainingDataset.load(URL(fileURLWithPath: path), tokenizer: tokenizer, prompt: prompt, maxLength: maxLength)
        guard case .languageModeling = train.task else { throw UsageError("\(command): --retain-mix mixes text into language-model training, not classification") }
        return try train.mixing(replay, fraction: fraction, seed: seed)
    }

    /// `--max-retain-kl X` as a guard callback (needs `--retain`).
    static func guardCallback(maximumKL: Double?, hasRetain: Bool, command: String) throws -> ForgettingGuard? {
        guard let maximumKL else { return nil }
        guard hasRetain else { throw UsageError("\(command): --max-retain-kl needs --retain FILE (the data whose KL it bounds)") }
        return try ForgettingGuard(maximumKL: maximumKL)
    }
}
