// Decoding benchmark: greedy tokens per second of a GGUF model after its prompt, for the float model,
// the packed model with exact products and the packed model with integer activations (the default of
// `peftkit generate`). The prompt's forward pass and the load are not counted: each run times the
// tokens after the first. Prints the median of several runs and whether the variants agree.
//
//   swift run -c release DecodeBenchmark --model PATH.gguf [--tokens N] [--runs N] [--threads N]
//                                        [--variants float,exact,integer] [--prefill N]
//
// --prefill N also times prompt processing: a prompt of N ids (a pass of up to 512 rows at a time,
// as `generate` takes it with `prefillChunk` 512), in tokens per second: llama-bench's ppN.
import Dispatch
import Foundation
import Models
import Tensors

func option(_ name: String) -> String? {
    guard let index = CommandLine.arguments.firstIndex(of: name), index + 1 < CommandLine.arguments.count else { return nil }
    return CommandLine.arguments[index + 1]
}

guard let path = option("--model") ?? ProcessInfo.processInfo.environment["PEFTKIT_SMOLLM2_GGUF"] else {
    print("usage: DecodeBenchmark --model PATH.gguf [--tokens N] [--runs N] [--threads N] [--variants float,exact,integer]")
    exit(2)
}
let tokens = option("--tokens").flatMap(Int.init) ?? 128
let runs = option("--runs").flatMap(Int.init) ?? 3
if let threads = option("--threads").flatMap(Int.init) { Parallel.threadCount = threads }
let variants = (option("--variants") ?? "float,exact,integer").split(separator: ",").map(String.init)
let prefill = option("--prefill").flatMap(Int.init)
let url = URL(fileURLWithPath: path)

// A fixed prompt of 24 ids (the numbers are ordinary SmolLM2 tokens; any ids below the vocabulary work).
let prompt = [1, 4093, 198, 20085, 253, 1789, 1838, 563, 253, 10046, 650, 3485, 288, 4320, 30, 2, 198, 1, 520, 9531, 198, 504, 3458, 282]
print("model: \(url.lastPathComponent), \(tokens) tokens after the prompt, \(runs) runs, threads: \(Parallel.threadCount), GEMM: \(GEMM.builtinKernel.rawValue)")

var outputs: [String: [Int]] = [:]
for variant in variants {
    let quantization: WeightQuantization = variant == "float" ? .none : .keepGGUF
    let model = try AutoModelForCausalLM.load(from: url, quantization: quantization)
    let arithmetic: QuantizedMatrix.DecodeArithmetic = variant == "integer" ? .integerActivations : .exact
    var rates: [Double] = []
    for _ in 0..<runs {
        var first: UInt64 = 0
        var count = 0
        let ids = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: tokens + 1, packedDecode: arithmetic)) { _ in
            count += 1
            if count == 1 { first = DispatchTime.now().uptimeNanoseconds }
            return true
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - first) / 1e9
        rates.append(Double(ids.count - 1) / elapsed)
        outputs[variant] = ids
    }
    rates.sort()
    print(String(format: "%-6@ %7.1f tok/s (median; runs %@)", variant as NSString, rates[rates.count / 2],
                 rates.map { String(format: "%.1f", $0) }.joined(separator: ", ") as NSString))
    if let prefill {
        // Prompt processing: N ordinary ids (repeating the fixed prompt), up to the first chosen token.
        let long = (0..<prefill).map { prompt[$0 % prompt.count] }
        var options = GenerationOptions(maxNewTokens: 1, packedDecode: arithmetic)
        options.prefillChunk = 512
        var prefillRates: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try model.generate(prompt: long, options: options) { _ in false }
            prefillRates.append(Double(prefill) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        prefillRates.sort()
        print(String(format: "%-6@ %7.1f tok/s prompt processing of %d tokens (median; runs %@)", variant as NSString,
                     prefillRates[prefillRates.count / 2], prefill, prefillRates.map { String(format: "%.1f", $0) }.joined(separator: ", ") as NSString))
    }
}
if let float = outputs["float"], let exact = outputs["exact"] { print("exact packed tokens equal float's: \(float == exact)") }
if let exact = outputs["exact"] ?? outputs["float"], let fast = outputs["integer"] {
    let agree = zip(exact, fast).prefix { $0 == $1 }.count
    print("integer-activation tokens agree with exact ones for the first \(agree) of \(fast.count)")
}
