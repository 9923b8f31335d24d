// GEMM benchmark: GFLOP/s of PEFTKit's built-in SGEMM against OpenBLAS on the shapes of a
// SmolLM2-135M LoRA training step (M = 512 tokens), plus 2048³, with 1 and 2 threads.
//
//   swift run -c release GEMMBenchmark                       # built-in kernel only
//   swift run -c release --traits OpenBLAS GEMMBenchmark     # + OpenBLAS through PEFTKit and direct cblas_sgemm
//
// Options: --threads 1,2   --quick (one shorter trial)   --only TEXT (shapes whose label contains TEXT)
//          --kernels avx512,avx2 (built-in kernels to compare; default: the best one, plus AVX2 when
//          the best is AVX-512)
//          --cold (adds the block linears with operands as a training step meets them: every call a
//          different A, weight and C from pools larger than the caches, against the same call repeated)
import Dispatch
import Foundation
import Tensors
#if OpenBLAS
import COpenBLAS
#endif

struct Problem {
    let label: String
    let transposeA: Bool
    let transposeB: Bool
    let m: Int, n: Int, k: Int
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

// y = x·Wᵀ (forward, W stored [out, in]); dX = dY·W (backward input gradient);
// dW = dYᵀ·X (backward weight gradient, only for trainable weights such as adapters).
let problems: [Problem] = [
    Problem(label: "fwd  x·Wᵀ  q/o_proj   512×576·(576×576)ᵀ", transposeA: false, transposeB: true, m: 512, n: 576, k: 576),
    Problem(label: "fwd  x·Wᵀ  gate/up    512×576·(1536×576)ᵀ", transposeA: false, transposeB: true, m: 512, n: 1536, k: 576),
    Problem(label: "fwd  x·Wᵀ  down       512×1536·(576×1536)ᵀ", transposeA: false, transposeB: true, m: 512, n: 576, k: 1536),
    Problem(label: "fwd  x·Wᵀ  lm_head    512×576·(49152×576)ᵀ", transposeA: false, transposeB: true, m: 512, n: 49152, k: 576),
    Problem(label: "bwd  dY·W  q/o_proj   512×576·576×576", transposeA: false, transposeB: false, m: 512, n: 576, k: 576),
    Problem(label: "bwd  dY·W  gate/up    512×1536·1536×576", transposeA: false, transposeB: false, m: 512, n: 576, k: 1536),
    Problem(label: "bwd  dY·W  down       512×576·576×1536", transposeA: false, transposeB: false, m: 512, n: 1536, k: 576),
    Problem(label: "bwd  dY·W  lm_head    512×49152·49152×576", transposeA: false, transposeB: false, m: 512, n: 576, k: 49152),
    Problem(label: "bwd  dYᵀ·X q/o_proj   (512×576)ᵀ·512×576", transposeA: true, transposeB: false, m: 576, n: 576, k: 512),
    Problem(label: "bwd  dYᵀ·X gate/up    (512×1536)ᵀ·512×576", transposeA: true, transposeB: false, m: 1536, n: 576, k: 512),
    Problem(label: "bwd  dYᵀ·X down       (512×576)ᵀ·512×1536", transposeA: true, transposeB: false, m: 576, n: 1536, k: 512),
    Problem(label: "square A·B            2048³", transposeA: false, transposeB: false, m: 2048, n: 2048, k: 2048),
]

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
var threadCounts = [1, 2]
var only: String? = nil
if let index = arguments.firstIndex(of: "--only"), index + 1 < arguments.count { only = arguments[index + 1] }
if let index = arguments.firstIndex(of: "--threads"), index + 1 < arguments.count {
    threadCounts = arguments[index + 1].split(separator: ",").compactMap { Int($0) }
}

var kernels: [GEMM.Kernel] = GEMM.bestKernel == .avx512 ? [.avx512, .avx2] : [GEMM.bestKernel]
if let index = arguments.firstIndex(of: "--kernels"), index + 1 < arguments.count {
    kernels = arguments[index + 1].split(separator: ",").compactMap { GEMM.Kernel(rawValue: String($0)) }
}

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Best (minimum) seconds per call of each contender, measured in interleaved rounds after one
/// warm-up each, so a noisy neighbour slows every contender alike instead of one of them.
func measureInterleaved(_ contenders: [() -> Void]) -> [Double] {
    let firsts = contenders.map { seconds($0) }
    let rounds = max(3, min(30, Int((quick ? 0.3 : 1.0) / max(firsts.reduce(0, +), 1e-6))))
    var best = [Double](repeating: .infinity, count: contenders.count)
    for _ in 0..<rounds {
        for (index, contender) in contenders.enumerated() { best[index] = min(best[index], seconds(contender)) }
    }
    return best
}

func gflops(_ problem: Problem, _ time: Double) -> Double { problem.flops / time / 1e9 }

print("PEFTKit GEMM benchmark — built-in kernels: \(kernels.map(\.rawValue).joined(separator: ", ")), processors: \(Parallel.availableProcessors), OpenBLAS trait: \(GEMM.isOpenBLASAvailable ? "on" : "off")")
var worstBuiltinRatio = Double.infinity
var worstWrapperRatio = Double.infinity

for threads in threadCounts {
    Parallel.threadCount = threads
    #if OpenBLAS
    openblas_set_num_threads(Int32(threads))
    #endif
    print("\n== \(threads) thread\(threads == 1 ? "" : "s") == (GFLOP/s, best of interleaved rounds)")
    var header = "shape".padding(toLength: 46, withPad: " ", startingAt: 0)
        + kernels.map { $0.rawValue.leftPadded(to: 10) }.joined()
    if kernels.count > 1 { header += "  \(kernels[0].rawValue)/\(kernels[1].rawValue)" }
    if GEMM.isOpenBLASAvailable { header += "  OpenBLAS(PEFTKit)  cblas direct  built-in/BLAS  wrapper/direct" }
    print(header)
    for problem in problems where only.map({ problem.label.contains($0) }) ?? true {
        var generator = SeededRandom(seed: 42)
        let aCount = problem.m * problem.k, bCount = problem.k * problem.n
        let a = Tensor.randomUniform([aCount], low: -1, high: 1, generator: &generator).toArray()
        let b = Tensor.randomUniform([bCount], low: -1, high: 1, generator: &generator).toArray()
        var c = [Float](repeating: 0, count: problem.m * problem.n)
        let lda = problem.transposeA ? problem.m : problem.k
        let ldb = problem.transposeB ? problem.k : problem.n
        let times: [Double] = a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { cBuffer in
                    let cBase = cBuffer.baseAddress!
                    func viaPEFTKit(_ backend: GEMM.Backend, _ kernel: GEMM.Kernel? = nil) -> () -> Void {
                        {
                            GEMM.sgemm(transposeA: problem.transposeA, transposeB: problem.transposeB,
                                       m: problem.m, n: problem.n, k: problem.k,
                                       a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb,
                                       c: cBase, ldc: problem.n, backend: backend, kernel: kernel)
                        }
                    }
                    // OpenBLAS workers busy-wait for a while after each call; measuring the built-in
                    // kernel right after them would make it share its cores with spinning threads.
                    // So each trial runs the built-in kernel first, alone, after a pause; then OpenBLAS
                    // via PEFTKit and direct, interleaved. Two trials; the best of each contender counts,
                    // so one noisy window on a shared machine does not decide a ratio.
                    var times = [Double](repeating: .infinity, count: kernels.count + (GEMM.isOpenBLASAvailable ? 2 : 0))
                    for _ in 0..<(quick ? 1 : 2) {
                        usleep(300_000)
                        var trial = measureInterleaved(kernels.map { viaPEFTKit(.builtin, $0) })
                        #if OpenBLAS
                        var contenders = [viaPEFTKit(.openBLAS)]
                        contenders.append {
                            cblas_sgemm(CblasRowMajor, problem.transposeA ? CblasTrans : CblasNoTrans,
                                        problem.transposeB ? CblasTrans : CblasNoTrans,
                                        Int32(problem.m), Int32(problem.n), Int32(problem.k), 1,
                                        a.baseAddress!, Int32(lda), b.baseAddress!, Int32(ldb), 0,
                                        cBase, Int32(problem.n))
                        }
                        trial += measureInterleaved(contenders)
                        #endif
                        times = zip(times, trial).map { min($0, $1) }
                    }
                    return times
                }
            }
        }
        let builtin = gflops(problem, times[0])
        var line = problem.label.padding(toLength: 46, withPad: " ", startingAt: 0)
            + kernels.indices.map { String(format: "  %8.1f", gflops(problem, times[$0])) }.joined()
        if kernels.count > 1 { line += String(format: "  %12.2f×", times[1] / times[0]) }
        #if OpenBLAS
        let wrapped = gflops(problem, times[kernels.count]), direct = gflops(problem, times[kernels.count + 1])
        let best = max(wrapped, direct)
        worstBuiltinRatio = min(worstBuiltinRatio, builtin / best)
        worstWrapperRatio = min(worstWrapperRatio, wrapped / direct)
        line += String(format: "  %17.1f  %12.1f  %12.0f%%  %13.0f%%", wrapped, direct, 100 * builtin / best, 100 * wrapped / direct)
        #endif
        print(line)
    }
}
if GEMM.isOpenBLASAvailable {
    print(String(format: "\nworst built-in/OpenBLAS: %.0f%%   worst PEFTKit-OpenBLAS/direct: %.0f%%",
                 100 * worstBuiltinRatio, 100 * worstWrapperRatio))
}

// Quantized weights: the forward x·Wᵀ and input gradient dY·W of the block linears with W kept in
// Q8_0 / Q4_1 / NF4 and dequantized panel by panel inside the GEMM, against the built-in float GEMM on the
// same (dequantized) matrix; both allocate their output, as the layers do. Goal: ≥ 90 %.
GEMM.backend = .builtin
for threads in threadCounts {
    Parallel.threadCount = threads
    print("\n== quantized weights, \(threads) thread\(threads == 1 ? "" : "s") == (GFLOP/s; quantized ÷ float)")
    print("shape".padding(toLength: 46, withPad: " ", startingAt: 0) + "     float     Q8_0     Q4_1      NF4   Q8_0/float  Q4_1/float  NF4/float")
    for problem in problems where !problem.transposeA && !problem.label.contains("lm_head") && !problem.label.contains("square")
        && (only.map { problem.label.contains($0) } ?? true) {
        var generator = SeededRandom(seed: 42)
        // The weight is [out, in]: [n, k] for x·Wᵀ, [k, n] for dY·W.
        let weightShape = problem.transposeB ? [problem.n, problem.k] : [problem.k, problem.n]
        let x = Tensor.randomUniform([problem.m, problem.k], low: -1, high: 1, generator: &generator)
        let weight = Tensor.randomUniform(weightShape, low: -0.1, high: 0.1, generator: &generator)
        let q8 = try! QuantizedMatrix.quantizing(weight, to: .q8_0), q41 = try! QuantizedMatrix.quantizing(weight, to: .q4_1)
        let nf4 = try! QuantizedMatrix.quantizing(weight, to: .nf4)
        let dense = q8.dequantized()
        var times = [Double](repeating: .infinity, count: 4)
        for _ in 0..<(quick ? 1 : 2) {
            let trial = measureInterleaved([
                { _ = Tensor.matmul(x, dense, transposeB: problem.transposeB) },
                { _ = Tensor.matmul(x, q8, transposeW: problem.transposeB) },
                { _ = Tensor.matmul(x, q41, transposeW: problem.transposeB) },
                { _ = Tensor.matmul(x, nf4, transposeW: problem.transposeB) },
            ])
            times = zip(times, trial).map { min($0, $1) }
        }
        let rates = times.map { gflops(problem, $0) }
        print(problem.label.padding(toLength: 46, withPad: " ", startingAt: 0)
              + String(format: "  %8.1f %8.1f %8.1f %8.1f  %10.0f%%  %9.0f%%  %8.0f%%", rates[0], rates[1], rates[2], rates[3],
                       100 * rates[1] / rates[0], 100 * rates[2] / rates[0], 100 * rates[3] / rates[0]))
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

if arguments.contains("--cold") {
    GEMM.backend = .builtin
    Parallel.threadCount = threadCounts.last ?? 2
    print("\n== cold operands, M = 672 (the labels' 512 rows aside): each call a different A, weight and C from pools larger than the caches (GFLOP/s: best of 3 passes through the pool; hot: as many calls on one set of operands) ==")
    for problem in problems where !problem.transposeA && !problem.label.contains("lm_head") && !problem.label.contains("square") {
        var generator = SeededRandom(seed: 42)
        let m = 672
        let aCount = m * problem.k, bCount = problem.k * problem.n, cCount = m * problem.n
        let copies = max(8, (768 << 20) / ((aCount + bCount + cCount) * 4))
        let weights = Tensor.randomUniform([bCount * copies], low: -1, high: 1, generator: &generator).toArray()
        let inputs = Tensor.randomUniform([aCount * copies], low: -1, high: 1, generator: &generator).toArray()
        var outputs = [Float](repeating: 0, count: cCount * copies)
        let ldb = problem.transposeB ? problem.k : problem.n
        var coldTime = Double.infinity, hotTime = Double.infinity
        weights.withUnsafeBufferPointer { weights in inputs.withUnsafeBufferPointer { inputs in outputs.withUnsafeMutableBufferPointer { outputs in
            func run(_ index: Int) {
                GEMM.sgemm(transposeA: false, transposeB: problem.transposeB, m: m, n: problem.n, k: problem.k,
                           a: inputs.baseAddress! + index * aCount, lda: problem.k, b: weights.baseAddress! + index * bCount, ldb: ldb,
                           c: outputs.baseAddress! + index * cCount, ldc: problem.n)
            }
            for _ in 0..<3 { coldTime = min(coldTime, seconds { for index in 0..<copies { run(index) } } / Double(copies)) }
            for _ in 0..<3 { hotTime = min(hotTime, seconds { for _ in 0..<copies { run(0) } } / Double(copies)) }
        } } }
        let flops = 2 * Double(m) * Double(problem.n) * Double(problem.k)
        print(problem.label.padding(toLength: 46, withPad: " ", startingAt: 0)
              + String(format: "  cold %7.1f   hot %7.1f   (%d copies)", flops / coldTime / 1e9, flops / hotTime / 1e9, copies))
    }
}
