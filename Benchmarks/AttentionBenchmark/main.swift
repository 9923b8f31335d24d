// Attention on long sequences: the tiled form (online softmax, memory linear in T) against the
// whole-matrix form (which keeps B·H·T·S probabilities for the backward pass), forward + backward
// of one SmolLM2-135M attention layer (9 query heads, 3 kv heads of 64, causal), batch 1.
//
//   swift run -c release AttentionBenchmark [--lengths 512,1024,2048,4096] [--repeats 3] [--batch 1]
//
// Prints, per length, the seconds of forward + backward (best of the repeats) and the bytes the
// layer keeps for its backward pass beyond its inputs and output, for both forms. Both forms give
// the same outputs within 1e-5 (Tests/AutogradTests/TiledAttentionTests).
import Autograd
import Dispatch
import Foundation
import Tensors

var lengths = [512, 1024, 2048, 4096]
var repeats = 3
var batch = 1
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--lengths": lengths = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--repeats": repeats = Int(arguments.next() ?? "") ?? repeats
    case "--batch": batch = max(1, Int(arguments.next() ?? "") ?? batch)
    default:
        FileHandle.standardError.write(Data("unknown option \(argument)\n".utf8))
        exit(2)
    }
}

let (queryHeads, keyValueHeads, dimension) = (9, 3, 64)

/// Best seconds of forward + backward over `repeats` runs.
func seconds(batch: Int, length: Int, tiled: Bool, repeats: Int) -> Double {
    var generator = SeededRandom(seed: 1)
    let q = Variable(Tensor.randomNormal([batch, queryHeads, length, dimension], std: 1, generator: &generator), requiresGrad: true)
    let k = Variable(Tensor.randomNormal([batch, keyValueHeads, length, dimension], std: 1, generator: &generator), requiresGrad: true)
    let v = Variable(Tensor.randomNormal([batch, keyValueHeads, length, dimension], std: 1, generator: &generator), requiresGrad: true)
    let seed = Tensor.randomUniform([batch, queryHeads, length, dimension], low: -1, high: 1, generator: &generator)
    var best = Double.infinity
    for _ in 0..<repeats {
        [q, k, v].forEach { $0.zeroGrad() }
        let start = DispatchTime.now().uptimeNanoseconds
        TiledAttention.$use.withValue(tiled ? .always : .never) {
            scaledDotProductAttention(query: q, key: k, value: v, causal: true).backward(seed: seed)
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

func megabytes(_ floats: Int) -> String { String(format: "%.1f MB", Double(floats * 4) / 1e6) }

print("Attention forward + backward, one SmolLM2-135M layer (9 query heads, 3 kv heads of 64, causal), batch \(batch), \(Parallel.threadCount) threads.\n")
print("| T | whole-matrix s | tiled s | whole / tiled | kept for backward: whole | tiled |")
print("|---|---|---|---|---|---|")
for length in lengths {
    let tiled = seconds(batch: batch, length: length, tiled: true, repeats: repeats)
    let whole = seconds(batch: batch, length: length, tiled: false, repeats: repeats)
    print(String(format: "| %d | %.4f | %.4f | %.2f× | %@ | %@ |", length, whole, tiled, whole / tiled,
                 megabytes(batch * queryHeads * length * length), megabytes(batch * queryHeads * length)))
}
