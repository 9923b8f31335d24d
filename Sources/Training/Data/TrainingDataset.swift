import Foundation
import Tensors
import Tokenizers

/// Counts gathered while preparing a dataset; shown to the user so nothing is lost silently.
public struct DatasetStatistics: Sendable, Equatable, Codable {
    /// Records read from the file.
    public var records = 0
    /// Examples cut to the maximum length.
    public var truncated = 0
    /// Examples dropped because no answer token was left after truncation.
    public var droppedWithoutTargets = 0
    /// Records skipped because they hold nothing to train on (an empty text or answer).
    public var droppedEmpty = 0
    /// The line of the first empty record.
    public var firstEmptyLine: Int?
    /// Tokens over all kept examples.
    public var tokens = 0
    /// Tokens that carry a loss.
    public var targetTokens = 0

    /// All zero.
    public init() {}

    /// One line for logs: "1,000 records, 1,000 examples, 71,234 tokens (10,500 trained); 3 truncated".
    public var summary: String {
        var text = "\(records) records, \(records - droppedWithoutTargets - droppedEmpty) examples, \(tokens) tokens (\(targetTokens) trained)"
        if truncated > 0 { text += "; \(truncated) truncated to the maximum length" }
        if droppedWithoutTargets > 0 { text += "; \(droppedWithoutTargets) dropped with no answer token left after truncation" }
        if droppedEmpty > 0 { text += "; \(droppedEmpty) empty records skipped (the first at line \(firstEmptyLine ?? 0))" }
        return text
    }
}

/// What a dataset trains.
public enum DatasetTask: Sendable, Equatable {
    /// Next-token prediction with a loss on the labelled tokens.
    case languageModeling
    /// Sequence classification into the named classes (index = position).
    case classification(labels: [String])
}

/// Tokenized examples ready for training or evaluation.
///
/// ```swift
/// let train = try TrainingDataset.load(trainURL, tokenizer: tokenizer, maxLength: 512)  // chat template, answers trained
/// ```
public struct TrainingDataset: Sendable {
    /// The examples, in file order.
    public var examples: [TokenizedExample] { didSet { lengths = examples.map(\.ids.count) } }
    /// What the examples train.
    public var task: DatasetTask
    /// Counts from preparation.
    public var statistics: DatasetStatistics
    /// Where it came from (a path, or a description).
    public var source: String

    /// Number of examples.
    public var count: Int { examples.count }
    /// Tokens of each example (for grouping batches by length), kept up to date with `examples`.
    public private(set) var lengths: [Int]

    /// Wraps already tokenized examples.
    public init(examples: [TokenizedExample], task: DatasetTask = .languageModeling, source: String = "(in memory)") {
        self.examples = examples
        self.lengths = examples.map(\.ids.count)
        self.task = task
        self.source = source
        var statistics = DatasetStatistics()
        statistics.records = examples.count
        statistics.truncated = examples.filter(\.wasTruncated).count
        statistics.tokens = examples.reduce(0) { $0 + $1.ids.count }
        statistics.targetTokens = examples.reduce(0) { $0 + $1.targetCount }
        self.statistics = statistics
    }

    /// Reads, formats and tokenizes a JSON or JSONL file.
    ///
    /// - Parameters:
    ///   - format: the records' layout (detected from the first record by default).
    ///   - prompt: how instruction and chat records become text (the model's chat template by default).
    ///   - maxLength: examples longer than this many tokens are cut at the end (and counted).
    ///   - trainOnPrompt: take the loss on prompt tokens too (off: only answers train).
    ///   - labels: the class names of a classification set, in index order (default: taken from the
    ///     data — the sorted names, or `"0"…"n-1"` for integer labels). Pass the training set's labels
    ///     when loading its evaluation set.
    ///   - progress: hears `(records prepared, records)` as the work goes on, from any thread.
    /// - Throws: `DatasetError` naming the file, line and reason.
    public static func load(_ url: URL, tokenizer: Tokenizer, format: DatasetFormat = .automatic, prompt: PromptFormat = .chatTemplate,
                            maxLength: Int = 512, trainOnPrompt: Bool = false, labels: [String]? = nil,
                            progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> TrainingDataset {
        let records = try DatasetFile.read(url, format: format)
        return try TrainingDataset(records: records, tokenizer: tokenizer, prompt: prompt, maxLength: maxLength,
                                   trainOnPrompt: trainOnPrompt, labels: labels, source: url.path, progress: progress)
    }

    /// What preparing one generation record gave.
    enum Prepared: Sendable {
        /// An example to train on.
        case example(TokenizedExample)
        /// The record holds nothing to train on.
        case empty(line: Int)
        /// Truncation took every answer token.
        case truncatedAway
    }

    /// Formats and tokenizes records (each with its line number, for messages), on every core.
    public init(records: [(line: Int, record: DatasetRecord)], tokenizer: Tokenizer, prompt: PromptFormat = .chatTemplate,
                maxLength: Int = 512, trainOnPrompt: Bool = false, labels: [String]? = nil, source: String = "(in memory)",
                progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        guard maxLength >= 2 else { throw TrainingError.invalidArgument(name: "maxLength", reason: "must be at least 2, got \(maxLength)") }
        guard !records.isEmpty else { throw DatasetError.empty(path: source, reason: "no records") }
        let classification = records[0].record.isClassification
        if let mixed = records.first(where: { $0.record.isClassification != classification }) {
            throw DatasetError.malformed(path: source, line: mixed.line, reason: "classification and generation records are mixed in one dataset")
        }
        var statistics = DatasetStatistics()
        statistics.records = records.count
        if classification {
            let names = try labels ?? Self.labelNames(records, source: source)
            let index = Dictionary(names.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
            let examples = try DatasetPreparation.map(records, progress: progress) { line, record in
                try Self.classificationExample(record, line: line, index: index, names: names, tokenizer: tokenizer, maxLength: maxLength, source: source)
            }
            for example in examples {
                if example.wasTruncated { statistics.truncated += 1 }
                statistics.tokens += example.ids.count
                statistics.targetTokens += 1
            }
            self.init(examples: examples, task: .classification(labels: names), source: source)
            self.statistics = statistics
            return
        }
        let prepared = try DatasetPreparation.map(records, progress: progress) { line, record in
            try Self.generationExample(record, line: line, tokenizer: tokenizer, prompt: prompt, maxLength: maxLength, trainOnPrompt: trainOnPrompt,
                                       source: source)
        }
        var examples: [TokenizedExample] = []
        examples.reserveCapacity(prepared.count)
        for outcome in prepared {
            switch outcome {
            case let .example(example):
                if example.wasTruncated { statistics.truncated += 1 }
                statistics.tokens += example.ids.count
                statistics.targetTokens += example.targetCount
                examples.append(example)
            case let .empty(line):
                statistics.droppedEmpty += 1
                statistics.firstEmptyLine = statistics.firstEmptyLine ?? line
            case .truncatedAway:
                statistics.truncated += 1
                statistics.droppedWithoutTargets += 1
            }
        }
        guard !examples.isEmpty else {
            if statistics.droppedWithoutTargets == 0 {
                throw DatasetError.empty(path: source, reason: "every one of the \(records.count) records is empty: nothing to train on (the first at line \(statistics.firstEmptyLine ?? 0))")
            }
            let empty = statistics.droppedEmpty > 0 ? "; \(statistics.droppedEmpty) more are empty (the first at line \(statistics.firstEmptyLine ?? 0))" : ""
            throw DatasetError.empty(path: source, reason: "\(statistics.droppedWithoutTargets) examples lost their answer tokens to truncation at \(maxLength) tokens (raise the maximum length)\(empty)")
        }
        self.init(examples: examples, task: .languageModeling, source: source)
        self.statistics = statistics
    }

    /// One classification record as an example (its text's ids and class index).
    static func classificationExample(_ record: DatasetRecord, line: Int, index: [String: Int], names: [String], tokenizer: Tokenizer,
                                      maxLength: Int, source: String) throws -> TokenizedExample {
        guard case let .classification(text, label) = record else { preconditionFailure("checked: every record is a classification record") }
        let classIndex: Int?
        switch label {
        case let .name(name): classIndex = index[name]
        case let .index(value): classIndex = value < names.count ? value : nil
        }
        guard let classIndex else { throw DatasetError.unknownLabel(path: source, line: line, label: label.description, known: names) }
        do {
            var ids = try tokenizer.encode(text, addSpecialTokens: true)
            let truncated = ids.count > maxLength
            if truncated { ids = try tokenizer.encode(text, addSpecialTokens: true, maxLength: maxLength) }
            guard !ids.isEmpty else { throw DatasetError.invalidField(path: source, line: line, field: "text", reason: "is empty after tokenization") }
            var example = TokenizedExample(ids: ids, labels: [], classLabel: classIndex, line: line)
            example.wasTruncated = truncated
            return example
        } catch let error as TokenizerError {
            throw DatasetError.formatting(path: source, line: line, reason: error.description)
        }
    }

    /// One generation record formatted, tokenized and cut to `maxLength`.
    static func generationExample(_ record: DatasetRecord, line: Int, tokenizer: Tokenizer, prompt: PromptFormat, maxLength: Int,
                                  trainOnPrompt: Bool, source: String) throws -> Prepared {
        var example: TokenizedExample
        do {
            example = try Self.tokenize(record, tokenizer: tokenizer, prompt: prompt, trainOnPrompt: trainOnPrompt)
        } catch let error as TemplateFormattingError {
            throw DatasetError.formatting(path: source, line: line, reason: error.description)
        } catch let TokenizerError.template(error) where error.exceedsLimit {
            throw DatasetError.formatting(path: source, line: line, reason: "the record is too large to format (\(error.message)); shorten it")
        } catch let error as TokenizerError {
            throw DatasetError.formatting(path: source, line: line, reason: error.description)
        }
        example.line = line
        guard example.targetCount > 0 else { return .empty(line: line) }
        if example.ids.count > maxLength {
            example.ids.removeLast(example.ids.count - maxLength)
            example.labels.removeLast(example.labels.count - maxLength)
            example.promptLength = min(example.promptLength, maxLength)
            example.wasTruncated = true
        }
        return example.targetCount > 0 ? .example(example) : .truncatedAway
    }

    /// Class names from the data: sorted names, or "0"…"max" for integer labels. A problem names the
    /// record's line in `source`.
    static func labelNames(_ records: [(line: Int, record: DatasetRecord)], source: String) throws -> [String] {
        var names = Set<String>()
        var largest = -1
        var firstKind: (line: Int, isName: Bool)?
        for case let (line, .classification(_, label)) in records {
            let isName: Bool
            switch label {
            case let .name(name):
                names.insert(name)
                isName = true
            case let .index(index):
                guard index < 100_000 else { throw DatasetError.invalidField(path: source, line: line, field: "label", reason: "\(index) is implausibly large for a class index") }
                largest = max(largest, index)
                isName = false
            }
            if let firstKind, firstKind.isName != isName {
                throw DatasetError.invalidField(path: source, line: line, field: "label", reason: "is \(isName ? "a name" : "an integer") but line \(firstKind.line) has \(isName ? "an integer" : "a name"); use one kind of label")
            }
            firstKind = firstKind ?? (line, isName)
        }
        return names.isEmpty ? (0...max(largest, 0)).map(String.init) : names.sorted()
    }

    /// Ids and labels of one generation record.
    static func tokenize(_ record: DatasetRecord, tokenizer: Tokenizer, prompt: PromptFormat, trainOnPrompt: Bool) throws -> TokenizedExample {
        let (segments, answer) = try prompt.segments(of: record, tokenizer: tokenizer)
        var ids: [Int] = []
        var labels: [Int] = []
        var answerStart = 0
        let templated: Bool = if case .chatTemplate = prompt, !Self.isRaw(record) { true } else { false }
        for (index, segment) in segments.enumerated() {
            let pieceIDs: [Int]
            if segment.parsesSpecialTokens {
                pieceIDs = try tokenizer.encodeChat(prompt: segment.text, userContents: segment.plainContents)
            } else {
                // The first piece of untemplated text gets the tokenizer's own leading tokens (bos).
                pieceIDs = try tokenizer.encode(segment.text, addSpecialTokens: index == 0 && !templated)
            }
            if segment.trained { answerStart = ids.count }
            ids += pieceIDs
            labels += segment.trained || trainOnPrompt ? pieceIDs : Array(repeating: TokenizedExample.ignoreIndex, count: pieceIDs.count)
        }
        let appendsEndOfSequence: Bool = if Self.isRaw(record) { true } else if case .plain = prompt { true } else { false }
        if appendsEndOfSequence, let eos = tokenizer.specialTokens.eos?.id {
            ids.append(eos)
            labels.append(eos)
        }
        return TokenizedExample(ids: ids, labels: labels, promptLength: answer == nil ? ids.count : answerStart, reference: answer)
    }

    /// Completion and text records are never chat-templated.
    static func isRaw(_ record: DatasetRecord) -> Bool {
        switch record {
        case .completion, .text: true
        default: false
        }
    }

    /// Splits off a random `evalFraction` of the examples (at least one each side) for evaluation.
    public func split(evalFraction: Double, seed: UInt64 = 0) throws -> (train: TrainingDataset, eval: TrainingDataset) {
        guard evalFraction > 0 && evalFraction < 1 else { throw TrainingError.invalidArgument(name: "evalFraction", reason: "must be in (0, 1), got \(evalFraction)") }
        guard count >= 2 else { throw DatasetError.empty(path: source, reason: "\(count) example cannot be split into train and eval") }
        var order = Array(0..<count)
        var generator = SeededRandom(seed: seed)
        BatchSampler.shuffle(&order, generator: &generator)
        let evalCount = min(count - 1, max(1, Int((Double(count) * evalFraction).rounded())))
        let evalIndices = Set(order.prefix(evalCount))
        let train = TrainingDataset(examples: examples.indices.filter { !evalIndices.contains($0) }.map { examples[$0] }, task: task,
                                    source: source + " (train split)")
        let eval = TrainingDataset(examples: examples.indices.filter { evalIndices.contains($0) }.map { examples[$0] }, task: task,
                                   source: source + " (eval split)")
        return (train, eval)
    }

    /// This set with examples of `replay` mixed in so that they make up `fraction` of the result
    /// (replay, or rehearsal: general data trained alongside the task so the model keeps it).
    /// `replay` is drawn in a seeded random order, cycling when more are needed than it holds; the
    /// sampler shuffles the mixture like any training set.
    /// - Throws: `TrainingError.invalidArgument` for a fraction outside (0, 0.9] or sets of different tasks.
    public func mixing(_ replay: TrainingDataset, fraction: Double, seed: UInt64 = 0) throws -> TrainingDataset {
        guard fraction > 0 && fraction <= 0.9 && fraction.isFinite else {
            throw TrainingError.invalidArgument(name: "fraction", reason: "the replay share must be in (0, 0.9], got \(fraction)")
        }
        guard case .languageModeling = task, case .languageModeling = replay.task, !replay.examples.isEmpty else {
            throw TrainingError.invalidArgument(name: "replay", reason: "\(replay.source) must hold text or conversations to mix into \(source)")
        }
        let wanted = max(1, Int((Double(count) * fraction / (1 - fraction)).rounded()))
        var generator = SeededRandom(seed: seed &+ 0x5EED)
        var drawn: [TokenizedExample] = []
        drawn.reserveCapacity(wanted)
        while drawn.count < wanted {
            var order = Array(replay.examples.indices)
            BatchSampler.shuffle(&order, generator: &generator)
            drawn += order.prefix(wanted - drawn.count).map { replay.examples[$0] }
        }
        var mixed = TrainingDataset(examples: examples + drawn, task: task, source: source + " + \(Int((fraction * 100).rounded())) % \(replay.source)")
        mixed.statistics.records = statistics.records + wanted
        return mixed
    }

    /// A short fingerprint of the examples (FNV-1a over ids and labels), stored in checkpoints so a
    /// resumed run refuses different data.
    public var fingerprint: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ value: Int) {
            var v = UInt64(bitPattern: Int64(value))
            for _ in 0..<8 {
                hash = (hash ^ (v & 0xFF)) &* 0x0100_0000_01B3
                v >>= 8
            }
        }
        mix(examples.count)
        for example in examples {
            mix(example.ids.count)
            example.ids.forEach(mix)
            example.labels.forEach(mix)
            mix(example.classLabel ?? -1)
        }
        return String(hash, radix: 16)
    }
}
