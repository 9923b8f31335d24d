// Rank sweep: LoRA on SmolLM2-135M-Instruct with the instruction-tuning example's task, one fixed
// budget per configuration — r ∈ {1, 2, 4, 8, 16, 32, 64} on q_proj,v_proj and on all-linear, and the
// other methods of the registry (DoRA, LoHa, LoKr, AdaLoRA 12 → 8, VeRA at r = 256) on q_proj,v_proj — reporting trainable parameters, seconds per step, tokens per second, peak RSS, the eval
// loss curve and exact match. Writes a Markdown table and two SVG charts (no packages).
//
//   swift run -c release RankSweep [--steps 30] [--eval-every 10] [--eval-examples 40] [--ranks 1,2,4,8,16,32,64]
//       [--targets q_proj,v_proj|all-linear|both] [--methods dora,loha,lokr,vera,adalora|none] [--output Benchmarks/results] [--model PATH]
//       [--only "LoHa r=8 q_proj,v_proj;…"]   (run just these rows and merge them into the saved results;
//                                              --only none rebuilds the report from the saved rows)
//       [--method-learning-rate 0.01|0]   (LoHa, LoKr, VeRA, AdaLoRA also at this rate; 0: not)
import Foundation
import PEFTKit

AllocatorTuning.keepFreedMemory()

do {
    let options = try SweepOptions(CommandLine.arguments.dropFirst())
    let tokenizer = try Tokenizer.load(from: options.model)
    let train = try TrainingDataset.load(options.data.appendingPathComponent("train.jsonl"), tokenizer: tokenizer, maxLength: 256)
    var eval = try TrainingDataset.load(options.data.appendingPathComponent("eval.jsonl"), tokenizer: tokenizer, maxLength: 256)
    eval.examples = Array(eval.examples.prefix(options.evalExamples))
    // With --only, the rows already measured are kept (rank_sweep.json) and the named ones replaced.
    var results = options.only == nil ? [] : SweepResult.load(from: options.output)
    for configuration in options.configurations {
        results.removeAll { $0.configuration.name == configuration.name }
        FileHandle.standardError.write(Data("== \(configuration.name)\n".utf8))
        results.append(try run(configuration, options: options, tokenizer: tokenizer, train: train, eval: eval))
        let order = options.rowOrder
        results.sort { (order.firstIndex(of: $0.configuration.name) ?? .max) < (order.firstIndex(of: $1.configuration.name) ?? .max) }
        try SweepReport(results: results, options: options).write()  // partial results survive an interruption
    }
    try SweepReport(results: results, options: options).write()  // also with `--only none`: the saved rows, report rebuilt
    print(SweepReport(results: results, options: options).markdown)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}

/// Trains one configuration from a freshly loaded model and measures it.
func run(_ configuration: SweepConfiguration, options: SweepOptions, tokenizer: Tokenizer, train: TrainingDataset,
         eval: TrainingDataset) throws -> SweepResult {
    PeakMemory.reset()
    let model = try AutoModelForCausalLM.load(from: options.model)
    let peft = try PeftModel(model, configuration: try configuration.adapter(steps: options.steps))
    var arguments = TrainingArguments(learningRate: configuration.learningRate ?? options.learningRate, maxSteps: options.steps, batchSize: 8)
    arguments.warmupSteps = max(1, options.steps / 10)
    arguments.evalSteps = options.evalEvery
    let timer = StepTimer()
    let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer, callbacks: [timer])
    let start = try trainer.evaluate(eval)["eval_loss"] ?? .nan  // the base model: step 0 of the curve
    try trainer.train()
    let curve = [(0, start)] + trainer.state.logHistory.compactMap { entry in entry.values["eval_loss"].map { (entry.step, $0) } }
    let final = try trainer.evaluate(eval, exactMatch: true)
    let secondsPerStep = timer.medianStepSeconds
    return SweepResult(configuration: configuration, trainableParameters: peft.trainableParameterCount,
                       secondsPerStep: secondsPerStep,
                       tokensPerSecond: Double(trainer.state.trainedTokens) / Double(options.steps) / secondsPerStep,
                       peakResidentMegabytes: PeakMemory.megabytes, evalLossCurve: curve,
                       evalLoss: final["eval_loss"] ?? .nan, exactMatch: final["eval_exact_match"] ?? .nan)
}

/// Step durations between consecutive step ends, leaving out intervals that contain an evaluation.
final class StepTimer: TrainerCallback {
    private var last: Date?
    private var evaluated = false
    private(set) var durations: [Double] = []

    func onStepEnd(_ trainer: Trainer) -> TrainerControl {
        let now = Date()
        if let last, !evaluated { durations.append(now.timeIntervalSince(last)) }
        last = now
        evaluated = false
        return .proceed
    }

    func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl {
        evaluated = true
        return .proceed
    }

    var medianStepSeconds: Double {
        let sorted = durations.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }
}

/// Peak resident memory of this process since the last reset (Linux: VmHWM, reset via clear_refs).
enum PeakMemory {
    static func reset() { try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs")) }

    static var megabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kilobytes / 1024
    }
}
