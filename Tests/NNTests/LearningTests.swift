import Testing
import Autograd
import NN
import Tensors

/// A two-layer perceptron with GELU.
final class MLP: Module {
    init(inputs: Int, hidden: Int, outputs: Int, generator: inout SeededRandom) {
        super.init()
        registerChild("fc1", Linear(inFeatures: inputs, outFeatures: hidden, generator: &generator))
        registerChild("fc2", Linear(inFeatures: hidden, outFeatures: outputs, generator: &generator))
    }
    func callAsFunction(_ x: Variable) -> Variable {
        let fc1: Linear = child("fc1"), fc2: Linear = child("fc2")
        return fc2(gelu(fc1(x)))
    }
}

/// One pre-norm Llama-style decoder block over a tiny vocabulary: embedding → RMSNorm → causal
/// grouped-query attention with RoPE → residual → RMSNorm → SwiGLU MLP → residual → RMSNorm → head.
final class TinyTransformer: Module {
    let heads = 2, kvHeads = 1, headDim = 8
    let rotary: RotaryEmbedding

    init(vocabulary: Int, generator: inout SeededRandom) {
        let width = heads * headDim
        rotary = RotaryEmbedding(dimension: headDim, base: 10_000)
        super.init()
        registerChild("embed_tokens", Embedding(count: vocabulary, dimension: width, generator: &generator))
        registerChild("input_layernorm", RMSNorm(dimension: width))
        registerChild("q_proj", Linear(inFeatures: width, outFeatures: heads * headDim, bias: false, generator: &generator))
        registerChild("k_proj", Linear(inFeatures: width, outFeatures: kvHeads * headDim, bias: false, generator: &generator))
        registerChild("v_proj", Linear(inFeatures: width, outFeatures: kvHeads * headDim, bias: false, generator: &generator))
        registerChild("o_proj", Linear(inFeatures: heads * headDim, outFeatures: width, bias: false, generator: &generator))
        registerChild("post_attention_layernorm", RMSNorm(dimension: width))
        registerChild("gate_proj", Linear(inFeatures: width, outFeatures: 32, bias: false, generator: &generator))
        registerChild("up_proj", Linear(inFeatures: width, outFeatures: 32, bias: false, generator: &generator))
        registerChild("down_proj", Linear(inFeatures: 32, outFeatures: width, bias: false, generator: &generator))
        registerChild("norm", RMSNorm(dimension: width))
        registerChild("lm_head", Linear(inFeatures: width, outFeatures: vocabulary, bias: false, generator: &generator))
    }

    func project(_ name: String, _ x: Variable) -> Variable {
        let layer: any LinearLayer = child(name)
        return layer(x)
    }

    /// ids: B·T token ids → logits (B, T, V).
    func callAsFunction(_ ids: [Int], batch: Int, steps: Int) throws -> Variable {
        let embed: Embedding = child("embed_tokens")
        let norm1: RMSNorm = child("input_layernorm"), norm2: RMSNorm = child("post_attention_layernorm")
        let finalNorm: RMSNorm = child("norm")
        let x = try embed(ids, shape: [batch, steps])
        let h = norm1(x)
        let dim = headDim
        let split: (Variable, Int) -> Variable = { y, count in
            y.reshaped([batch, steps, count, dim]).transposed(1, 2)
        }
        let positions = Array(0..<steps)
        let q = applyRotaryEmbedding(split(project("q_proj", h), heads), positions: positions, rotary: rotary)
        let k = applyRotaryEmbedding(split(project("k_proj", h), kvHeads), positions: positions, rotary: rotary)
        let v = split(project("v_proj", h), kvHeads)
        let attended = scaledDotProductAttention(query: q, key: k, value: v, causal: true)
            .transposed(1, 2).reshaped([batch, steps, heads * headDim])
        let x2 = x + project("o_proj", attended)
        let m = norm2(x2)
        let x3 = x2 + project("down_proj", silu(project("gate_proj", m)) * project("up_proj", m))
        return project("lm_head", finalNorm(x3))
    }
}

@Suite("Learning", .serialized)
struct LearningTests {
    /// Four interleaved spiral arms; the MLP must separate them.
    static func spiral(generator: inout SeededRandom) -> (Tensor, [Int]) {
        var points: [Float] = [], labels: [Int] = []
        for arm in 0..<4 {
            for i in 0..<24 {
                let r = Float(i + 1) / 24
                let angle = Float(arm) * Float.pi / 2 + r * 2.5 + 0.1 * generator.nextUniform(in: -1, 1)
                points += [r * angle.cosine, r * angle.sine]
                labels.append(arm)
            }
        }
        return (Tensor(points, shape: [96, 2]), labels)
    }

    func trainMLP() throws -> [Float] {
        var generator = SeededRandom(seed: 2024)
        let (x, y) = Self.spiral(generator: &generator)
        let model = MLP(inputs: 2, hidden: 48, outputs: 4, generator: &generator)
        let optimizer = AdamW(learningRate: 0.02, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<300 {
            optimizer.zeroGradients(model)
            let loss = try crossEntropy(logits: model(Variable(x)), targets: y)
            loss.backward()
            optimizer.step(model)
            losses.append(loss.value.scalar)
        }
        return losses
    }

    @Test("an MLP learns four spiral arms: loss falls from ~1.4 below 0.15, deterministically")
    func mlpLearns() throws {
        let losses = try trainMLP()
        #expect(losses[0] > 1.2)
        #expect(losses.last! < 0.15, "final loss \(losses.last!)")
        #expect(try trainMLP() == losses)  // bit-identical rerun
    }

    func trainTransformer() throws -> [Float] {
        var generator = SeededRandom(seed: 7)
        let vocabulary = 12, batch = 8, steps = 10
        let model = TinyTransformer(vocabulary: vocabulary, generator: &generator)
        let optimizer = AdamW(learningRate: 0.01, weightDecay: 0)
        var losses: [Float] = []
        for _ in 0..<150 {
            // Task: predict the token two positions back (needs attention + position information).
            var ids: [Int] = [], targets: [Int] = []
            for _ in 0..<batch {
                let row = (0..<steps).map { _ in Int(generator.next() % UInt64(vocabulary)) }
                ids += row
                targets += (0..<steps).map { $0 >= 2 ? row[$0 - 2] : -100 }
            }
            optimizer.zeroGradients(model)
            let logits = try model(ids, batch: batch, steps: steps).reshaped([batch * steps, vocabulary])
            let loss = try crossEntropy(logits: logits, targets: targets)
            loss.backward()
            optimizer.step(model)
            losses.append(loss.value.scalar)
        }
        return losses
    }

    @Test("a transformer block learns to recall the token two back: loss from ~2.5 below 0.3, deterministically")
    func transformerLearns() throws {
        let losses = try trainTransformer()
        let tail = losses.suffix(10).reduce(0, +) / 10
        #expect(losses[0] > 2.2)
        #expect(tail < 0.3, "mean of last 10 losses \(tail)")
        #expect(try trainTransformer() == losses)
    }
}

private extension Float {
    var cosine: Float { Float(Foundation.cos(Double(self))) }
    var sine: Float { Float(Foundation.sin(Double(self))) }
}

import Foundation
