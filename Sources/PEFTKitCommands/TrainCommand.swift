import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tokenizers
import Tensors
import Training

/// `peftkit train`: fine-tune a model with an adapter on a JSON/JSONL dataset.
enum TrainCommand {
    static var help: String { """
    USAGE: peftkit train --model PATH --train FILE --output DIR [options]

    Attaches an adapter to the model, trains it on FILE and writes it to DIR in Hugging Face PEFT's
    format (adapter_config.json + adapter_model.safetensors), with checkpoints, metrics.jsonl and
    metrics.csv. Instruction data ({"prompt","response"}, Alpaca, {"messages"}) is formatted with the
    model's chat template and only the answers are trained. Classification data ({"text","label"})
    trains a new head on a BERT model. Ends with one JSON line of results on standard output.

    MODEL AND DATA:
      --model PATH                  A .gguf file or a Hugging Face folder
      --train FILE                  Training data (.json array or .jsonl)
      --eval FILE                   Evaluation data (default: none, or --eval-fraction of --train)
      --eval-fraction F             Hold out this fraction of --train for evaluation (default 0)
      --output DIR                  Where the adapter, checkpoints and logs go
      --overwrite                   Allow an output folder that already holds results
      --format NAME                 auto (default), prompt-response, alpaca, chat, completion, text, classification
      --prompt-format NAME          chat (the model's template, default) or plain (### Instruction / ### Response)
      --chat-template FILE          A Jinja chat template file that replaces the model's own template
      --max-length N                Truncate examples to N tokens (default 512)
      --train-on-prompt             Take the loss on prompt tokens too
      --packing                     Pack short examples into rows of --max-length tokens (attention stays inside each)

    ADAPTER:
    \(AdapterOptions.help)

    TRAINING:
      --learning-rate LR            Peak learning rate (default 2e-4)
      --batch-size N                Examples per micro-batch (default 8)
      --gradient-accumulation K     Micro-batches per update (default 1)
      --epochs E                    Passes over the data (default 1)
      --max-steps N                 Optimizer steps (overrides --epochs)
      --warmup-steps N              Linear warm-up (default 0)
      --schedule NAME               constant, linear (default) or cosine
      --weight-decay W              AdamW weight decay (default 0)
      --max-grad-norm G             Clip the global gradient norm (default 1; 0 = off)
      --seed S                      Seed of adapter initialisation, dropout and data order (default 0)
      --logging-steps N             Log the training loss every N steps (default 10)
      --eval-every N                Evaluate every N steps (default: every epoch)
      --save-every N                Save a checkpoint every N steps (default: only when stopped early)
      --save-total-limit K          Keep the newest K checkpoints and the best (default 2)
      --early-stopping-patience N   Stop after N evaluations without a better eval loss (restores the best)
      --retain [NAME=]FILE          General data to keep: every evaluation logs retain_NAME_loss and retain_NAME_kl,
                                    the mean per-token KL(base ‖ model) on its answers (repeatable; eval_kl is
                                    logged for --eval the same way)
      --max-retain-kl X             Stop when a retain KL passes X nats per token and keep the last weights within it
      --report-to LIST              Also log to: tensorboard (event files in DIR/tensorboard) or none (default)
      --retain-mix FILE:FRACTION    Replay: mix examples of FILE into training so they make up FRACTION (≤ 0.9)
      --kl-anchor λ                 Add λ · KL(base ‖ model) on each batch's answer tokens to the loss (keeps the
                                    model near its base; one more forward pass per micro-batch)
      --gradient-checkpointing      Recompute block activations in backward (less memory, more compute)
      --quantization NAME           float (default), gguf (keep a GGUF's Q8_0/Q4_0/Q4_1 blocks packed: QLoRA),
                                    q8_0, q4_1 or nf4 (quantize the blocks' linear weights at load)
      --matmul-precision NAME       float32 (default), float16 or bfloat16: mixed-precision large products in training
                                    steps. float16: about twice as fast on CPUs with AVX512-FP16 (Intel Xeons), relative
                                    error ~1e-3. bfloat16: for CPUs with AVX512-BF16 but no FP16 (AMD Zen 4/5), relative
                                    error ~2e-3. Either computes in float32 on a CPU without its instructions
      --exact-match                 Also measure exact match of greedy answers at each evaluation
      --max-new-tokens N            Tokens generated per answer for exact match (default 32)
      --resume DIR                  Continue from a checkpoint (or the newest one in DIR)
      --init-adapter DIR            Start from this PEFT adapter's configuration and weights instead of a fresh
                                    initialization (adapter flags given must agree with it)
      --config FILE.json            Options from a JSON object ({"rank": 16, "learning-rate": 1e-4}); flags win
      --quiet                       No progress output
      --help                        Show this help

    """ }

    static var options: Set<String> { Set([
        "chat-template",
        "model", "train", "eval", "eval-fraction", "output", "format", "prompt-format", "max-length", "method",
        "targets", "learning-rate", "batch-size", "gradient-accumulation", "epochs", "max-steps",
        "warmup-steps", "schedule", "weight-decay", "max-grad-norm", "seed", "logging-steps", "eval-every", "save-every",
        "save-total-limit", "early-stopping-patience", "max-new-tokens", "resume", "config", "quantization", "init-adapter",
        "matmul-precision", "retain", "max-retain-kl", "report-to", "retain-mix", "kl-anchor",
    ]).union(AdapterOptions.names) }
    static let flags: Set<String> = ["overwrite", "train-on-prompt", "exact-match", "quiet", "gradient-checkpointing", "packing"]

    static func run(_ rawArguments: [String], output: CommandOutput) throws {
        let command = "train"
        var arguments = rawArguments
        let first = try ParsedArguments(rawArguments, options: options, flags: flags, command: command, repeatable: ["retain"])
        var ignoredSettings: [String] = []
        if let config = first.value("config") {
            let read = try TrainingSetup.configArguments(URL(fileURLWithPath: config), options: options, flags: flags, command: command)
            arguments = read.arguments + rawArguments.filter { $0 != "--config" && $0 != config && !$0.hasPrefix("--config=") }
            ignoredSettings = read.ignored
        }
        let parsed = try ParsedArguments(arguments, options: options, flags: flags, command: command, lastWins: true, repeatable: ["retain"])
        if !ignoredSettings.isEmpty {
            output.standardError("train: warning: --config holds \(ignoredSettings.count) Hugging Face settings peftkit has no option for, ignored: "
                                 + ignoredSettings.prefix(12).joined(separator: ", ") + (ignoredSettings.count > 12 ? ", …" : "") + "\n")
        }
        guard let modelPath = parsed.value("model") else { throw UsageError("train: --model is required") }
        try PathChecks.requireModel(modelPath, command: "train")
        guard let trainPath = parsed.value("train") else { throw UsageError("train: --train is required") }
        guard let outputPath = parsed.value("output") else { throw UsageError("train: --output is required") }
        let outputFolder = try PathChecks.required(outputPath, flag: "output", command: command)
        try PathChecks.refuseNonFolder(outputFolder, flag: "output", command: command)
        try PathChecks.refuseOverlap(outputFolder, flag: "output", inputs: [("model", modelPath), ("train", trainPath)], currentDirectory: false,
                                      command: command)
        if parsed.value("epochs") != nil && parsed.value("max-steps") != nil { throw UsageError("train: give --epochs or --max-steps, not both") }
        let format = try parsed.choice("format", command: command, default: DatasetFormat.automatic)
        let promptFormat: PromptFormat = switch try parsed.choice("prompt-format", command: command, default: "chat", among: ["chat", "plain"]) {
        case "plain": .plain
        default: .chatTemplate
        }
        let method = try AdapterOptions.variant(parsed, command: command)
        let methodOptions = try AdapterOptions.values(parsed, variant: method, command: command)
        let maxLength = try parsed.integer("max-length", command: command, default: 512, minimum: 2, maximum: 1 << 20)
        let evalFraction = try parsed.double("eval-fraction", command: command, default: 0, range: 0...0.9)
        if evalFraction > 0 && parsed.value("eval") != nil { throw UsageError("train: give --eval or --eval-fraction, not both") }

        var settings = TrainingArguments()
        settings.outputDirectory = outputPath
        settings.overwriteOutput = parsed.has("overwrite")
        settings.handlesInterrupt = CommandLineTool.handlesInterrupt
        settings.learningRate = try parsed.float("learning-rate", command: command, default: 2e-4, range: 0...10)
        settings.batchSize = try parsed.integer("batch-size", command: command, default: 8, minimum: 1, maximum: 1 << 16)
        settings.gradientAccumulationSteps = try parsed.integer("gradient-accumulation", command: command, default: 1, minimum: 1, maximum: 1 << 16)
        settings.epochs = try parsed.double("epochs", command: command, default: 1, range: 1e-6...1_000_000)
        settings.maxSteps = try parsed.optionalInteger("max-steps", command: command, minimum: 1)
        settings.warmupSteps = try parsed.integer("warmup-steps", command: command, default: 0)
        settings.schedule = try parsed.choice("schedule", command: command, default: WarmupSchedule.Shape.linear)
        settings.weightDecay = try parsed.float("weight-decay", command: command, default: 0, range: 0...10)
        let clip = try parsed.double("max-grad-norm", command: command, default: 1, range: 0...1e9)
        settings.maxGradientNorm = clip > 0 ? clip : nil
        settings.seed = try parsed.unsigned("seed", command: command, default: 0)
        settings.loggingSteps = try parsed.integer("logging-steps", command: command, default: 10, minimum: 1)
        settings.evalSteps = try parsed.optionalInteger("eval-every", command: command, minimum: 1)
        settings.saveSteps = try parsed.optionalInteger("save-every", command: command, minimum: 1)
        settings.saveTotalLimit = try parsed.integer("save-total-limit", command: command, default: 2, minimum: 1)
        settings.exactMatchDuringTraining = parsed.has("exact-match")
        settings.gradientCheckpointing = parsed.has("gradient-checkpointing")
        settings.packing = parsed.has("packing")
        settings.matmulPrecision = try parsed.choice("matmul-precision", command: command, default: MatmulPrecision.float32)
        if settings.packing { settings.packedRowLength = maxLength }
        settings.maxNewTokens = try parsed.integer("max-new-tokens", command: command, default: 32, maximum: 1 << 16)
        if parsed.value("kl-anchor") != nil { settings.klAnchor = try parsed.double("kl-anchor", command: command, default: 0, range: 0...1_000_000) }
        let patience = try parsed.optionalInteger("early-stopping-patience", command: command, minimum: 1)
        let resume = parsed.value("resume").map { URL(fileURLWithPath: $0) }
        try PathChecks.requireInput(trainPath, flag: "train", folder: false, command: command)
        if let evalPath = parsed.value("eval") { try PathChecks.requireInput(evalPath, flag: "eval", folder: false, command: command) }
        if let resume { try PathChecks.requireInput(resume.path, flag: "resume", folder: true, command: command) }
        if let initial = parsed.value("init-adapter") { try PathChecks.requireInput(initial, flag: "init-adapter", folder: true, command: command) }
        let quiet = parsed.has("quiet")
        let reportTo = Set((parsed.value("report-to") ?? "none").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        if let unknown = reportTo.subtracting(["tensorboard", "none"]).sorted().first {
            throw UsageError("train: --report-to '\(unknown)' is not known; use tensorboard or none")
        }
        if resume == nil && !settings.overwriteOutput, let existing = try? FileManager.default.contentsOfDirectory(atPath: outputPath),
           existing.contains(where: { $0.hasPrefix("checkpoint-") || $0.hasPrefix("adapter_") }) {
            throw UsageError("train: \(outputPath) already holds a trained adapter or checkpoints; pass --overwrite, --resume \(outputPath), or another --output")
        }

        // Data first: it decides the task.
        let modelURL = URL(fileURLWithPath: modelPath)
        let tokenizer = try ChatTemplateOption.tokenizer(for: modelURL, parsed, command: command)
        var train = try TrainingDataset.load(URL(fileURLWithPath: trainPath), tokenizer: tokenizer, format: format, prompt: promptFormat,
                                             maxLength: maxLength, trainOnPrompt: parsed.has("train-on-prompt"),
                                             progress: quiet ? nil : PreparationProgress(path: trainPath, output: output).report)
        var labels: [String]? = nil
        if case let .classification(names) = train.task { labels = names }
        var eval: TrainingDataset? = try parsed.value("eval").map {
            try TrainingDataset.load(URL(fileURLWithPath: $0), tokenizer: tokenizer, format: format, prompt: promptFormat, maxLength: maxLength,
                                     trainOnPrompt: parsed.has("train-on-prompt"), labels: labels,
                                     progress: quiet ? nil : PreparationProgress(path: $0, output: output).report)
        }
        if evalFraction > 0 {
            let parts = try train.split(evalFraction: evalFraction, seed: settings.seed)
            (train, eval) = (parts.train, parts.eval)
        }
        train = try RetainOption.mixing(train, parsed, tokenizer: tokenizer, prompt: promptFormat, maxLength: maxLength, seed: settings.seed, command: command)
        let retain = try RetainOption.datasets(parsed, tokenizer: tokenizer, prompt: promptFormat, maxLength: maxLength, quiet: quiet, output: output,
                                               command: command)
        let forgettingGuard = try RetainOption.guardCallback(parsed, hasRetain: !retain.isEmpty, command: command)
        let statistics = "train: \(train.statistics.summary)" + (eval.map { "; eval: \($0.count) examples" } ?? "")
        if !quiet { output.standardError(statistics + "\n") }
        if !GEMM.isAvailable(settings.matmulPrecision) && !quiet {
            let instructions = settings.matmulPrecision == .float16 ? "AVX512-FP16" : "AVX512-BF16"
            let other: MatmulPrecision = settings.matmulPrecision == .float16 ? .bfloat16 : .float16
            let hint = GEMM.isAvailable(other) ? " (it has \(other.rawValue): --matmul-precision \(other.rawValue))" : ""
            output.standardError("train: this CPU has no \(instructions); --matmul-precision \(settings.matmulPrecision.rawValue) computes in float32\(hint)\n")
        }

        let base = try TrainingSetup.model(at: modelURL, classification: labels?.count,
                                           quantization: try TrainingSetup.quantization(parsed, command: command))
        let classification = labels != nil
        let targets = try parsed.value("targets").map(TrainingSetup.targets)
        let configuration = try method.make(AdapterOptionValues(targets: targets, taskType: classification ? "SEQ_CLS" : "CAUSAL_LM",
                                                                modulesToSave: classification ? ["classifier"] : nil,
                                                                baseModelNameOrPath: modelPath,
                                                                totalSteps: Trainer.plannedSteps(train: train, arguments: settings).totalSteps,
                                                                given: methodOptions))
        // The memory the run will need, before the adapter is allocated (r = 65536 would abort there).
        let planned = try parsed.value("init-adapter").map { try AdapterConfigurations.load(from: URL(fileURLWithPath: $0)) } ?? configuration
        let memory = TrainingMemory.predicted(for: base, dataset: train, arguments: settings,
                                              prefixTokens: (planned as? any PromptLearningConfiguration)?.virtualTokenCount ?? 0,
                                              addedTrainable: try PeftModel<Module>.plannedTrainableCount(planned, model: base))
        try memory.requireFits()
        if let available = MachineMemory.available, memory.total > available {
            output.standardError("train: warning: this run needs about \(MachineMemory.describe(memory.total)) at its peak but "
                                 + "\(MachineMemory.describe(available)) is free now; it may swap\n")
        }
        let peft: PeftModel<Module>
        if let initial = parsed.value("init-adapter") {
            // Continue from an existing PEFT adapter: its configuration and weights, trainable. Flags
            // that describe the adapter must agree with it rather than be silently ignored.
            peft = try PeftModel.load(base, adapter: URL(fileURLWithPath: initial), isTrainable: true)
            try checkAgreement(peft.configuration(peft.activeAdapter)!, with: configuration, parsed, initial: initial)
        } else {
            peft = try PeftModel(base, configuration: configuration, seed: settings.seed)
        }
        for warning in AdapterOptions.unused(parsed, variant: method) + unusedOptionWarnings(parsed, method: method.name, hasEval: eval != nil, hasRetain: !retain.isEmpty)
            + peft.notices {
            output.standardError("train: warning: \(warning)\n")
        }
        var callbacks: [any TrainerCallback] = []
        if !quiet { callbacks.append(ProgressBar()) }
        let outputURL = URL(fileURLWithPath: outputPath)
        callbacks.append(MetricsLog(url: outputURL.appendingPathComponent("metrics.jsonl")))
        callbacks.append(MetricsLog(url: outputURL.appendingPathComponent("metrics.csv"), format: .csv))
        if reportTo.contains("tensorboard") { callbacks.append(TensorBoardLog(folder: outputURL.appendingPathComponent("tensorboard"))) }
        if let patience {
            guard eval != nil else { throw UsageError("train: --early-stopping-patience needs --eval or --eval-fraction") }
            callbacks.append(EarlyStopping(patience: patience))
        }
        if let forgettingGuard { callbacks.append(forgettingGuard) }
        if !quiet { output.standardError("\(peft.trainableParameterSummary)\n") }
        let trainer = try Trainer(model: peft, arguments: settings, train: train, eval: eval, retain: retain, tokenizer: tokenizer, callbacks: callbacks)
        let summary = try trainer.train(resumingFrom: resume)
        var extra: [String: Double] = ["peak_rss_mb": TrainingSetup.peakResidentMegabytes.rounded()]
        if eval != nil || !retain.isEmpty {
            // The run's final evaluation, unless it lacks exact match or a callback put other weights back.
            let restored = patience != nil || forgettingGuard?.exceededAtStep != nil
            let reusable = trainer.lastEvaluation.flatMap {
                !restored && $0.step == summary.steps && (classification || eval == nil || $0.metrics["eval_exact_match"] != nil) ? $0.metrics : nil
            }
            var metrics = try reusable ?? eval.map { try trainer.evaluate($0, exactMatch: !classification) } ?? [:]
            if reusable == nil { metrics.merge(try trainer.forgettingMetrics()) { _, new in new } }
            for (key, value) in metrics where key != "eval_examples" { extra[key] = value }
        }
        if summary.interrupted && !quiet { output.standardError("interrupted: checkpoint saved; continue with --resume \(outputPath)\n") }
        let line = summary.jsonLine(adding: extra)
        // The summary and the report beside the adapter (`peftkit report` rebuilds the page from them).
        try AtomicFile.write(Data((line + "\n").utf8), to: outputURL.appendingPathComponent("summary.json"))
        let run = TrainingReport.Run(trainer: trainer, summary: summary, name: outputURL.lastPathComponent,
                                     extra: [("model", modelPath), ("peak resident memory", "\(Int(extra["peak_rss_mb"] ?? 0)) MB")])
        try TrainingReport(runs: [run]).write(to: outputURL.appendingPathComponent("report.html"))
        output.standardOutput(line + "\n")
    }

    /// Refuses `--init-adapter` with adapter options that disagree with the adapter's configuration:
    /// every setting given on the command line must be the one the adapter already has.
    static func checkAgreement(_ existing: any AdapterConfiguration, with asked: any AdapterConfiguration, _ parsed: ParsedArguments,
                               initial: String) throws {
        if parsed.value("method") != nil && existing.peftType != asked.peftType {
            throw UsageError("train: --init-adapter \(initial) is \(existing.peftType), not what --method \(parsed.value("method")!) makes (\(asked.peftType))")
        }
        // The JSON keys whose values differ, among those the command line set.
        let have = existing.json, want = asked.json
        var conflicts: [String] = []
        let givenKeys: [(option: String, keys: [String])] = [("rank", ["r"]), ("alpha", ["lora_alpha", "alpha"]), ("dropout", ["lora_dropout"]),
                                                              ("method", ["use_dora", "use_rslora"]), ("virtual-tokens", ["num_virtual_tokens"])]
        for (option, keys) in givenKeys where parsed.value(option) != nil {
            for key in keys where want[key] != nil && have[key] != want[key] {
                conflicts.append("--\(option) \(parsed.value(option)!) (the adapter has \(key)=\(have[key]?.serialized() ?? "null"))")
            }
        }
        if parsed.value("targets") != nil, case let .names(wanted)? = (asked as? any LayerAdapterConfiguration)?.targetModules,
           case let .names(stored)? = (existing as? any LayerAdapterConfiguration)?.targetModules, Set(wanted) != Set(stored) {
            conflicts.append("--targets \(wanted.joined(separator: ",")) (the adapter targets \(stored.sorted().joined(separator: ",")))")
        }
        if !conflicts.isEmpty { throw UsageError("train: --init-adapter \(initial) disagrees with " + conflicts.joined(separator: ", ")) }
    }
}
