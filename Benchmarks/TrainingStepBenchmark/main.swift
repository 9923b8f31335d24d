// Training-step benchmark: forward + backward + AdamW of a SmolLM2-135M-shaped Llama (random
// weights, no download) on 8 sequences of 64 tokens, with only the q_proj/v_proj weights trainable
// (the frozen-base pattern LoRA training uses). Reports seconds per step and a per-phase split.
//
//   swift run -c release TrainingStepBenchmark [--layers N] [--steps N] [--threads N]
//
// The PyTorch reference for the same model and batch on this machine is ~4.0 s/step for LoRA r=8 on
// q/v (REFERENCE.md); this measures PEFTKit's substrate before adapters exist.
import Autograd
import Dispatch
import Foundation
import Models
import NN
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

let layers = argument("--layers", 30)
let steps = argument("--steps", 3)
Parallel.threadCount = argument("--threads", Parallel.availableProcessors)
let configuration = LlamaConfiguration(vocabularySize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: layers,
                                       attentionHeads: 9, keyValueHeads: 3, ropeTheta: 100_000, rmsNormEpsilon: 1e-5,
                                       maxPositionEmbeddings: 8192, tieWordEmbeddings: true)
let model = try LlamaForCausalLM(configuration, seed: 1)
model.freeze()
try model.unfreeze(matching: #".*\.(q_proj|v_proj)\.weight"#)
print("model: \(layers) layers, \(model.trainableParameterSummary), threads: \(Parallel.threadCount), GEMM: \(GEMM.backend.rawValue)/\(GEMM.builtinKernel.rawValue)")

let batch = 8, length = 64
var generator = SeededRandom(seed: 7)
let ids = (0..<(batch * length)).map { _ in Int(generator.next() % 49152) }
// Labels: next token, prompt half masked (−100), as instruction tuning does.
var labels = [Int](repeating: -100, count: ids.count)
for row in 0..<batch { for t in (length / 2)..<(length - 1) { labels[row * length + t] = ids[row * length + t + 1] } }
let optimizer = AdamW(learningRate: 2e-4)

var forwardTimes: [Double] = [], backwardTimes: [Double] = [], updateTimes: [Double] = []
for step in 0...steps {
    var loss: Variable!
    let forward = try seconds {
        let logits = try model(ids, batch: batch).reshaped([batch * length, 49152])
        loss = try crossEntropy(logits: logits, targets: labels)
    }
    let backward = seconds { loss.backward() }
    let update = seconds {
        optimizer.step(model)
        optimizer.zeroGradients(model)
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
