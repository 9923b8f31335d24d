import Autograd
import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tokenizers
import Training

/// `peftkit eval`: how well a model (with an optional adapter) does on a dataset.
enum EvalCommand {
    /// Every option, declared once (help, parser, defaults and ranges).
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "A .gguf file or a Hugging Face folder", .text),
        CommandOption("adapter", "DIR", "A PEFT adapter folder (as peftkit train writes it)", .text),
        CommandOption("data", "FILE", "Evaluation data (.json array or .jsonl)", .text),
        CommandOption("format", "NAME", "auto, prompt-response, alpaca, chat, completion, text or classification",
                      .choice(default: DatasetFormat.automatic.rawValue, among: DatasetFormat.allCases.map(\.rawValue))),
        CommandOption("prompt-format", "NAME", "chat or plain", .choice(default: "chat", among: ["chat", "plain"])),
        CommandOption("chat-template", "FILE", ChatTemplateOption.help, .text),
        CommandOption("max-length", "N", "Truncate examples to N tokens", .integer(default: 512, range: 2...(1 << 20))),
        CommandOption("max-tokens", "N", "Most tokens generated per answer (0 skips exact match)", .integer(default: 32, range: 0...(1 << 16))),
        CommandOption("batch-size", "N", "Examples per forward pass", .integer(default: 8, range: 1...(1 << 16))),
        CommandOption("samples", "N", "Print the first N answers next to their references", .integer(default: 0, range: 0...Int.max)),
        CommandOption("answers", "FILE", "Write every greedy answer as JSON Lines: line, prompt_ids, answer, reference", .text),
        CommandOption("quantization", "NAME", "float, gguf (keep a GGUF's quantized blocks packed), q8_0, q4_1 or nf4",
                      .choice(default: "float", among: WeightQuantization.names)),
        CommandOption("json", "", "Print one JSON line: loss, perplexity, exact_match (or accuracy, f1), examples", .flag),
    ])])

    static var help: String {
        """
        USAGE: peftkit eval --model PATH --data FILE [--adapter DIR] [options]

        Generation data: evaluation loss, perplexity, and exact match of greedy answers (the answer
        generated after the prompt, without special tokens and surrounding whitespace, equals the
        reference). Classification data: loss, accuracy, macro precision/recall/F1 and the confusion
        matrix (the adapter folder's label_map.json gives the classes).

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "eval"
        let declared = declarations
        let parsed = try declared.parse(arguments, command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("eval: --model is required") }
        try PathChecks.requireModel(modelPath, command: "eval")
        guard let dataPath = parsed.value("data") else { throw UsageError("eval: --data is required") }
        let format = DatasetFormat(rawValue: try parsed.choice(declared["format"], command: command))!
        let promptFormat: PromptFormat = try parsed.choice(declared["prompt-format"], command: command) == "plain" ? .plain : .chatTemplate
        let maxLength = try parsed.integer(declared["max-length"], command: command)!
        let maxTokens = try parsed.integer(declared["max-tokens"], command: command)!
        let batchSize = try parsed.integer(declared["batch-size"], command: command)!
        let samples = try parsed.integer(declared["samples"], command: command)!
        let adapter = parsed.value("adapter").map { URL(fileURLWithPath: $0) }
        let answersFile = parsed.value("answers").map { URL(fileURLWithPath: $0) }
        if answersFile != nil && maxTokens == 0 { throw UsageError("eval: --answers needs answers; --max-tokens is 0") }
        if let answersFile {
            // A device, FIFO or link is written through (AtomicFile); what the run reads is never replaced.
            try PathChecks.refuseOverlap(answersFile, flag: "answers", inputs: [("data", dataPath), ("model", modelPath)] + (adapter.map { [("adapter", $0.path)] } ?? []),
                                          currentDirectory: false, command: command)
            try PathChecks.refuseFolder(answersFile, flag: "answers", command: command)
        }

        let modelURL = URL(fileURLWithPath: modelPath)
        let tokenizer = try ChatTemplateOption.tokenizer(for: modelURL, parsed, command: command)
        let labels = try adapter.flatMap(labelMap)
        let data = try TrainingDataset.load(URL(fileURLWithPath: dataPath), tokenizer: tokenizer, format: format, prompt: promptFormat,
                                            maxLength: maxLength, labels: labels, progress: PreparationProgress(path: dataPath, output: output).report)
        var classes: Int? = nil
        if case let .classification(names) = data.task { classes = names.count }
        if classes != nil && adapter != nil && labels == nil {
            throw UsageError("eval: \(adapter!.path) has no label_map.json; classification needs the labels the adapter was trained with")
        }
        var module = try TrainingSetup.model(at: modelURL, classification: classes, quantization: WeightQuantization(name: try parsed.choice(declared["quantization"], command: command))!)
        if adapter == nil, (module as? BertForSequenceClassification)?.headIsNew == true {
            output.standardError("eval: warning: \(modelPath) has no classification head for \(classes ?? 0) classes and no --adapter was given; "
                                 + "these scores come from a head initialised at random\n")
        }
        var prefix: Variable? = nil
        if let adapter {
            let peft = try PeftModel.load(module, adapter: adapter)
            for notice in peft.notices { output.standardError("eval: warning: \(notice)\n") }
            prefix = peft.activePromptEmbeddings
            // A packed base keeps the adapter beside it (merging would re-quantize); a float base merges.
            if prefix == nil && module.namedPackedParameters().isEmpty { module = try peft.mergeAndUnload() }
        }
        let head: ModelHead = try TrainableModule(module).head()
        let evaluator = Evaluator(head: head, prefix: prefix, tokenizer: tokenizer, batchSize: batchSize, maxNewTokens: maxTokens)
        var metrics: [String: Double]
        var lines: [String] = []
        switch head {
        case let .languageModel(model):
            metrics = try evaluator.metrics(data)
            if maxTokens > 0 {
                let answers = try evaluator.answers(model, data)
                metrics["eval_exact_match"] = Evaluator.exactMatch(answers)
                if let answersFile { try writeAnswers(answers, data: data, to: answersFile) }
                for (index, answer) in answers.prefix(samples).enumerated() {
                    lines.append("[\(index + 1)] answer: \(oneLine(answer.answer, limit: 200))\n    reference: \(oneLine(answer.reference, limit: 200))")
                }
            }
        case .classifier:
            let (scores, loss) = try evaluator.classification(data)  // one pass: metrics and confusion matrix
            metrics = Evaluator.classificationMetrics(scores, loss: loss, examples: data.count)
            if case let .classification(names) = data.task { lines.append(scores.table(labels: names)) }
        }
        if parsed.has("json") {
            var fields: [String: Double] = ["loss": metrics["eval_loss"] ?? .nan, "examples": Double(data.count)]
            if let value = metrics["eval_perplexity"] { fields["perplexity"] = value }
            if let value = metrics["eval_exact_match"] { fields["exact_match"] = value }
            if let value = metrics["eval_accuracy"] { fields["accuracy"] = value }
            if let value = metrics["eval_f1"] { fields["f1"] = value }
            if let value = metrics["eval_precision"] { fields["precision"] = value }
            if let value = metrics["eval_recall"] { fields["recall"] = value }
            output.standardOutput(JSONLine.object(fields) + "\n")
            return
        }
        output.standardOutput("examples: \(data.count) (\(data.statistics.summary))\n")
        for key in ["eval_loss", "eval_perplexity", "eval_exact_match", "eval_accuracy", "eval_precision", "eval_recall", "eval_f1"] {
            if let value = metrics[key] { output.standardOutput("\(key.dropFirst(5)): \(String(format: "%.4f", value))\n") }
        }
        for line in lines { output.standardOutput(line + "\n") }
    }

    /// The class names of an adapter folder's `label_map.json`, if it has one.
    static func labelMap(_ folder: URL) throws -> [String]? {
        let url = folder.appendingPathComponent("label_map.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let members = try JSONValue.parse(InputFile.read(url))["id2label"]?.members else {
            throw UsageError("eval: \(url.path) has no id2label object")
        }
        var names = [String](repeating: "", count: members.count)
        for (key, value) in members {
            guard let index = Int(key), index >= 0, index < members.count, let name = value.string else {
                throw UsageError("eval: \(url.path): id2label needs keys 0…\(members.count - 1) with string names")
            }
            names[index] = name
        }
        return names
    }

    /// One JSON object per example: its line in the data file, the prompt's token ids, the greedy
    /// answer and the reference (so another implementation can be run on exactly the same ids).
    static func writeAnswers(_ answers: [(prompt: [Int], answer: String, reference: String)], data: TrainingDataset, to url: URL) throws {
        var text = ""
        for (answer, example) in zip(answers, data.examples) {
            let object: JSONValue = .object([("line", .number(Double(example.line))),
                                             ("prompt_ids", .array(answer.prompt.map { .number(Double($0)) })),
                                             ("answer", .string(answer.answer)), ("reference", .string(answer.reference))])
            text += object.serialized() + "\n"
        }
        do {
            try AtomicFile.write(Data(text.utf8), to: url)
        } catch let ModelFileError.unwritable(path, reason) {
            throw TrainingError.file(path: path, reason: "cannot write the answers: \(reason)")
        }
    }
}
