// Training-step benchmark: forward + backward + AdamW of LoRA r=8 (α=32) on q_proj/v_proj of a
// SmolLM2-135M-shaped Llama (random weights, no download), 8 sequences of 64 tokens with the second
// half labelled, as instruction tuning does. Reports seconds per step with a per-phase split, and the
// measured peak resident memory against `TrainingMemory`'s prediction.
//
//   swift run -c release TrainingStepBenchmark [--layers N] [--steps N] [--threads N] [--length T]
//                                              [--quantization float|q8_0|q4_1|nf4]
import Autograd
import Dispatch
import Foundation
import Models
import NN
import PEFT
import Tensors

func argument(_ name: String, _ fallback: Int) -> Int {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count,
          let value = Int(CommandLine.arguments[index + 1]) else { return fallback }
    return value
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// The process's peak resident set, in bytes.
func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss * 1024
    #else
    getrusage(RUSAGE_SELF, &usage)
    return usage.ru_maxrss
    #endif
}

AllocatorTuning.keepFreedMemory()
let layers = argument("--layers", 30)
let steps = argument("--steps", 3)
let length = argument("--length", 64)
Parallel.threadCount = argument("--threads", Parallel.availableProcessors)
let quantizationName = CommandLine.arguments.firstIndex(of: "--quantization").map { CommandLine.arguments[$0 + 1] } ?? "float"
guard let quantization = WeightQuantization(name: quantizationName), quantization != .keepGGUF else {
    print("--quantization takes float, q8_0, q4_1 or nf4")
    exit(2)
}
let configuration = LlamaConfiguration(vocabularySize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: layers,
                                       attentionHeads: 9, keyValueHeads: 3, ropeTheta: 100_000, rmsNormEpsilon: 1e-5,
                                       maxPositionEmbeddings: 8192, tieWordEmbeddings: true)
let model = try LlamaForCausalLM(configuration, seed: 1)
if case let .quantize(format) = quantization { try model.quantizeLinearLayers(under: "model.layers.", to: format) }
let peft = try PeftModel(model, configuration: LoRAConfig(rank: 8, alpha: 32, targetModules: ["q_proj", "v_proj"]), seed: 2)
print("model: \(layers) layers, \(quantizationName) base, \(peft.trainableParameterSummary), threads: \(Parallel.threadCount), GEMM: \(GEMM.backend.rawValue)/\(GEMM.builtinKernel.rawValue)")

let batch = 8
var generator = SeededRandom(seed: 7)
let ids = (0..<(batch * length)).map { _ in Int(generator.next() % 49152) }
// Labels: the next token on the second half of each row; only those positions reach the head.
var rows: [Int] = [], targets: [Int] = []
for row in 0..<batch {
    for t in (length / 2)..<(length - 1) { rows.append(row * length + t); targets.append(ids[row * length + t + 1]) }
}
let optimizer = AdamW(learningRate: 2e-4)

var forwardTimes: [Double] = [], backwardTimes: [Double] = [], updateTimes: [Double] = []
for step in 0...steps {
    var loss: Variable!
    let forward = try seconds {
        let hidden = try model.hiddenStates(ids, batch: batch, cache: nil).reshaped([batch * length, 576])
        // The trainer's loss: the labelled rows through the head 64 at a time, as a mean.
        loss = try chunkedCrossEntropySum(hidden: hidden.gatherRows(rows), targets: targets) { model.logits(from: $0) } / Float(rows.count)
    }
    let backward = seconds { loss.backward() }
    let update = seconds {
        optimizer.step(peft.root)
        optimizer.zeroGradients(peft.root)
    }
    if step > 0 {  // step 0 warms up
        forwardTimes.append(forward); backwardTimes.append(backward); updateTimes.append(update)
    }
    print(String(format: "step %d: loss %.4f  forward %.2f s  backward %.2f s  update %.3f s", step, loss.value.scalar, forward, backward, update))
}
let mean = { (values: [Double]) in values.reduce(0, +) / Double(max(values.count, 1)) }
let total = mean(forwardTimes) + mean(backwardTimes) + mean(updateTimes)
print(String(format: "mean step %.2f s (forward %.2f, backward %.2f, update %.3f); %.0f tokens/s",
             total, mean(forwardTimes), mean(backwardTimes), mean(updateTimes), Double(batch * length) / total))
let predicted = TrainingMemory.estimate(for: model, batch: batch, length: length, labelled: rows.count)
let measured = peakResidentBytes()
let mb = { (bytes: Int) in Double(bytes) / 1_048_576 }
print(String(format: "peak RSS %.0f MB measured, %.0f MB predicted (weights %.0f + activations %.0f + logits %.0f + runtime %.0f): %+.1f %%",
             mb(measured), mb(predicted.total), mb(predicted.weights), mb(predicted.activations), mb(predicted.logits), mb(predicted.runtime),
             100 * (Double(measured) / Double(predicted.total) - 1)))
