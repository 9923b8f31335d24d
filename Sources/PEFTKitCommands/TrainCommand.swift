import Autograd
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
    static var help: String {
        """
        USAGE: peftkit train --model PATH --train FILE --output DIR [options]

        Attaches an adapter to the model, trains it on FILE and writes it to DIR in Hugging Face PEFT's
        format (adapter_config.json + adapter_model.safetensors), with checkpoints, metrics.jsonl and
        metrics.csv. Instruction data ({"prompt","response"}, Alpaca, {"messages"}) is formatted with the
        model's chat template and only the answers are trained. Classification data ({"text","label"})
        trains a new head on a BERT model. Ends with one JSON line of results on standard output.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    /// The names `--config` and the parser accept.
    static var options: Set<String> { declarations.valueNames }
    static var flags: Set<String> { declarations.flagNames }

    static func run(_ rawArguments: [String], output: CommandOutput) throws {
        // Under an MPI launcher every process trains its share; a process that fails ends the job,
        // naming its rank, so that no other waits for it.
        let communicator = try Self.communicator()
        do {
            try run(rawArguments, output: output, communicator: communicator)
        } catch {
            if communicator.size > 1 { communicator.abort("train failed: \(error)") }
            throw error
        }
    }

    /// `run` as one of `communicator`'s processes.
    static func run(_ rawArguments: [String], output: CommandOutput, communicator: any Communicator) throws {
        let command = "train"
        var arguments = rawArguments
        let declared = declarations
        let first = try declared.parse(rawArguments, command: command)
        var ignoredSettings: [String] = []
        if let config = first.value("config") {
            let read = try TrainingSetup.configArguments(URL(fileURLWithPath: config), options: options, flags: flags, command: command)
            arguments = read.arguments + rawArguments.filter { $0 != "--config" && $0 != config && !$0.hasPrefix("--config=") }
            ignoredSettings = read.ignored
        }
        let parsed = try declared.parse(arguments, command: command, lastWins: true)
        // Every typed value below takes its default and range from its declaration (TrainOptions.swift).
        func integer(_ name: String) throws -> Int? { try parsed.integer(declared[name], command: command) }
        func number(_ name: String) throws -> Double? { try parsed.number(declared[name], command: command) }
        func choice(_ name: String) throws -> String { try parsed.choice(declared[name], command: command) }
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
        // The profile's file: checked now, not after the training it describes. It never replaces an
        // input, nor anything in the output folder (an adapter or summary the run has just written).
        let profileURL = try parsed.value("profile").map { path -> URL in
            let url = try PathChecks.required(path, flag: "profile", command: command)
            try PathChecks.refuseFolder(url, flag: "profile", command: command)
            let inputs = [("model", modelPath), ("train", trainPath)] + ["eval", "init-adapter", "config"].compactMap { flag in
                parsed.value(flag).map { (flag, $0) }
            } + parsed.values("retain").map { ("retain", RetainOption.split($0).path) }
            try PathChecks.refuseOverlap(url, flag: "profile", inputs: inputs, currentDirectory: false, command: command)
            let folder = outputFolder.resolvingSymlinksInPath().path + "/"
            if url.resolvingSymlinksInPath().path.hasPrefix(folder) {
                throw UsageError("\(command): --profile \(url.path) is inside --output \(outputFolder.path); write the profile elsewhere")
            }
            try PathChecks.requireInput(url.deletingLastPathComponent().path, flag: "profile (its folder)", folder: true, command: command)
            return url
        }
        if parsed.value("epochs") != nil && parsed.value("max-steps") != nil { throw UsageError("train: give --epochs or --max-steps, not both") }
        let format = DatasetFormat(rawValue: try choice("format"))!
        let promptFormat: PromptFormat = switch try choice("prompt-format") {
        case "plain": .plain
        default: .chatTemplate
        }
        let method = try AdapterOptions.variant(parsed, command: command)
        let methodOptions = try AdapterOptions.values(parsed, variant: method, command: command)
        let maxLength = try integer("max-length")!
        let evalFraction = try number("eval-fraction")!
        if evalFraction > 0 && parsed.value("eval") != nil { throw UsageError("train: give --eval or --eval-fraction, not both") }

        var settings = TrainingArguments()
        settings.outputDirectory = outputPath
        settings.overwriteOutput = parsed.has("overwrite")
        settings.handlesInterrupt = CommandLineTool.handlesInterrupt
        settings.learningRate = Float(try number("learning-rate")!)
        settings.batchSize = try integer("batch-size")!
        settings.gradientAccumulationSteps = try integer("gradient-accumulation")!
        settings.epochs = try number("epochs")!
        settings.maxSteps = try integer("max-steps")
        settings.warmupSteps = try integer("warmup-steps")!
        settings.schedule = WarmupSchedule.Shape(rawValue: try choice("schedule"))!
        settings.weightDecay = Float(try number("weight-decay")!)
        let clip = try number("max-grad-norm")!
        settings.maxGradientNorm = clip > 0 ? clip : nil
        settings.seed = try parsed.unsigned(declared["seed"], command: command)
        settings.loggingSteps = try integer("logging-steps")!
        settings.evalSteps = try integer("eval-every")
        settings.saveSteps = try integer("save-every")
        settings.saveTotalLimit = try integer("save-total-limit")!
        settings.exactMatchDuringTraining = parsed.has("exact-match")
        settings.gradientCheckpointing = parsed.has("gradient-checkpointing")
        settings.packing = parsed.has("packing")
        settings.matmulPrecision = MatmulPrecision(rawValue: try choice("matmul-precision"))!
        if settings.packing { settings.packedRowLength = maxLength }
        settings.maxNewTokens = try integer("max-new-tokens")!
        settings.klAnchor = try number("kl-anchor")
        let patience = try integer("early-stopping-patience")
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
        let forgettingGuard = try RetainOption.guardCallback(maximumKL: number("max-retain-kl"), hasRetain: !retain.isEmpty, command: command)
        let statistics = "train: \(train.statistics.summary)" + (eval.map { "; eval: \($0.count) examples" } ?? "")
        if !quiet { output.standardError(statistics + "\n") }
        if !GEMM.isAvailable(settings.matmulPrecision) && !quiet {
            let instructions = settings.matmulPrecision == .float16 ? "AVX512-FP16" : "AVX512-BF16"
            let other: MatmulPrecision = settings.matmulPrecision == .float16 ? .bfloat16 : .float16
            let hint = GEMM.isAvailable(other) ? " (it has \(other.rawValue): --matmul-precision \(other.rawValue))" : ""
            output.standardError("train: this CPU has no \(instructions); --matmul-precision \(settings.matmulPrecision.rawValue) computes in float32\(hint)\n")
        }

        let base = try TrainingSetup.model(at: modelURL, classification: labels?.count, quantization: WeightQuantization(name: try choice("quantization"))!)
        let classification = labels != nil
        let targets = try parsed.value("targets").map(TrainingSetup.targets)
        let values = AdapterOptionValues(targets: targets, taskType: classification ? "SEQ_CLS" : "CAUSAL_LM",
                                         modulesToSave: classification ? ["classifier"] : nil, baseModelNameOrPath: modelPath,
                                         totalSteps: Trainer.plannedSteps(train: train, arguments: settings).totalSteps, given: methodOptions)
        let configuration = try method.make(values)
        // The memory the run will need, before the adapter is allocated (r = 65536 would abort there).
        let planned = try parsed.value("init-adapter").map { try AdapterConfigurations.load(from: URL(fileURLWithPath: $0)) } ?? configuration
        let memory = TrainingMemory.predicted(for: base, dataset: train, arguments: settings,
                                              prefixTokens: (planned as? any PromptLearningConfiguration)?.virtualTokenCount ?? 0,
                                              addedTrainable: try PeftModel<Module>.plannedTrainableCount(planned, model: base))
        try memory.requireFits()
        if !quiet && communicator.rank == 0 {
            output.standardError("memory: about \(MachineMemory.describe(memory.total)) at the peak (\(memory.breakdown), runtime \(MachineMemory.describe(memory.runtime)))\n")
        }
        if let available = MachineMemory.available, memory.total > available {
            output.standardError("train: warning: this run needs about \(MachineMemory.describe(memory.total)) at its peak but "
                                 + "\(MachineMemory.describe(available)) is free now; it may swap\n")
        }
        let peft: PeftModel<Module>
        if let initial = parsed.value("init-adapter") {
            // Continue from an existing PEFT adapter: its configuration and weights, trainable. Flags
            // that describe the adapter must agree with it rather than be silently ignored.
            peft = try PeftModel.load(base, adapter: URL(fileURLWithPath: initial), isTrainable: true)
            try checkAgreement(peft.configuration(peft.activeAdapter)!, variant: method, values: values, parsed, initial: initial)
        } else {
            peft = try PeftModel(base, configuration: configuration, seed: settings.seed)
        }
        for warning in AdapterOptions.unused(parsed, variant: method) + unusedOptionWarnings(parsed, method: method.name, hasEval: eval != nil, hasRetain: !retain.isEmpty)
            + peft.notices {
            output.standardError("train: warning: \(warning)\n")
        }
        // Only rank 0 writes and reports.
        let writes = communicator.rank == 0
        var callbacks: [any TrainerCallback] = []
        if !quiet && writes { callbacks.append(ProgressBar()) }
        let outputURL = URL(fileURLWithPath: outputPath)
        if writes {
            callbacks.append(MetricsLog(url: outputURL.appendingPathComponent("metrics.jsonl")))
            callbacks.append(MetricsLog(url: outputURL.appendingPathComponent("metrics.csv"), format: .csv))
            if reportTo.contains("tensorboard") { callbacks.append(TensorBoardLog(folder: outputURL.appendingPathComponent("tensorboard"))) }
        }
        if let patience {
            guard eval != nil else { throw UsageError("train: --early-stopping-patience needs --eval or --eval-fraction") }
            callbacks.append(EarlyStopping(patience: patience))
        }
        if let forgettingGuard { callbacks.append(forgettingGuard) }
        if !quiet && writes {
            output.standardError("\(peft.trainableParameterSummary)\n")
            if communicator.size > 1 {
                output.standardError("data-parallel: \(communicator.size) processes, a global batch of \(settings.batchSize * communicator.size) rows\n")
            }
        }
        let trainer = try Trainer(model: peft, arguments: settings, train: train, eval: eval, retain: retain, tokenizer: tokenizer, callbacks: callbacks,
                                  communicator: communicator)
        if profileURL != nil { trainer.operationProfile = OperationProfile() }
        let summary = try trainer.train(resumingFrom: resume)
        guard writes else { return }
        // Last, after the adapter, summary and report: a profile that cannot be written costs a warning.
        defer {
            if let profileURL, let profile = trainer.operationProfile {
                let header = "# Operation profile of `peftkit train`\n\n\(modelPath), \(peft.trainableParameterSummary); "
                    + "\(profile.spans) steps profiled (the first step left out), batch \(settings.batchSize), "
                    + "\(settings.matmulPrecision.rawValue) products, \(Parallel.threadCount) threads, GEMM \(GEMM.backend.rawValue)/\(GEMM.builtinKernel.rawValue).\n\n"
                    + "Milliseconds per step. Forward time is charged to the operation recorded next (the time since the previous one); "
                    + "*italic* rows are regions around work that records no operation.\n\n"
                do { try AtomicFile.write(Data((header + profile.markdownTable() + "\n").utf8), to: profileURL) } catch {
                    output.standardError("train: warning: --profile \(profileURL.path) could not be written: \(error)\n")
                }
            }
        }
        // The measured peak beside `TrainingMemory`'s prediction for this run (MiB both), so the formula
        // can be checked on any model (Benchmarks/TrainingMemory/check.sh).
        var extra: [String: Double] = ["peak_rss_mb": TrainingSetup.peakResidentMegabytes.rounded(),
                                       "predicted_peak_rss_mb": (Double(memory.total) / 1_048_576).rounded()]
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

    /// The processes training together: the MPI job when an MPI launcher started this process for
    /// more than one, otherwise this process alone.
    /// - Throws: `UsageError` when launched for several processes by a build without the `MPI` trait.
    static func communicator() throws -> any Communicator {
        let processes = MPILaunch.processCount
        guard processes > 1 else { return SingleProcessCommunicator() }
        #if MPI
        return try MPICommunicator.world()
        #else
        throw UsageError("train: an MPI launcher started \(processes) processes, but this peftkit was built without the MPI trait; build it with swift build -c release --traits MPI (Debian: apt-get install libopenmpi-dev openmpi-bin)")
        #endif
    }

    /// Refuses `--init-adapter` with adapter options that disagree with the adapter's configuration:
    /// every setting given on the command line must be the one the adapter already has. Which
    /// `adapter_config.json` keys an option sets is found by building the configuration with and
    /// without it, so no method's keys are named here.
    static func checkAgreement(_ existing: any AdapterConfiguration, variant: AdapterMethod.CommandLineVariant, values: AdapterOptionValues,
                               _ parsed: ParsedArguments, initial: String) throws {
        let asked = try variant.make(values)
        if parsed.value("method") != nil && existing.peftType != asked.peftType {
            throw UsageError("train: --init-adapter \(initial) is \(existing.peftType), not what --method \(parsed.value("method")!) makes (\(asked.peftType))")
        }
        let have = existing.json, want = asked.json
        func keysSet(by makeOther: () throws -> any AdapterConfiguration) throws -> [String] {
            let other = try makeOther().json
            return (want.members ?? []).map(\.key).filter { want[$0] != other[$0] }
        }
        var conflicts: [String] = []
        for option in variant.options where values.given[option.name] != nil {
            // The keys that change when only this option's value changes.
            var other = values
            let value = values.number(option)
            switch option.kind {
            case let .integer(_, range): other.given[option.name] = Double(Int(value) < range.upperBound ? Int(value) + 1 : Int(value) - 1)
            case let .number(_, range): other.given[option.name] = value < range.upperBound ? min(range.upperBound, value + max(0.01, abs(value))) : value / 2
            }
            for key in try keysSet(by: { try variant.make(other) }) where have[key] != want[key] {
                conflicts.append("--\(option.name) \(parsed.value(option.name)!) (the adapter has \(key)=\(have[key]?.serialized() ?? "null"))")
            }
        }
        // A variant of the method (dora, rslora) sets keys its first variant leaves.
        if parsed.value("method") != nil, let plain = AdapterMethods.method(asked.peftType)?.commandLine.first, plain.name != variant.name {
            for key in try keysSet(by: { try plain.make(values) }) where have[key] != want[key] {
                conflicts.append("--method \(variant.name) (the adapter has \(key)=\(have[key]?.serialized() ?? "null"))")
            }
        }
        if parsed.value("targets") != nil, case let .names(wanted)? = (asked as? any LayerAdapterConfiguration)?.targetModules,
           case let .names(stored)? = (existing as? any LayerAdapterConfiguration)?.targetModules, Set(wanted) != Set(stored) {
            conflicts.append("--targets \(wanted.joined(separator: ",")) (the adapter targets \(stored.sorted().joined(separator: ",")))")
        }
        if !conflicts.isEmpty { throw UsageError("train: --init-adapter \(initial) disagrees with " + conflicts.joined(separator: ", ")) }
    }
}
