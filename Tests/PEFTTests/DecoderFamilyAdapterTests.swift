import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
import Tensors

/// LoRA adapters written by Python peft for the tiny checkpoint of each decoder family
/// (Tests/ModelsTests/Fixtures/make_decoder_families.py): split targets, Gemma's q/v/gate and
/// Phi-3's fused `qkv_proj` and `gate_up_proj`, each one A and one B over the whole matrix.
@Suite("Decoder families: peft adapters")
struct DecoderFamilyAdapterTests {
    static let families = Fixture.models.appendingPathComponent("families")

    struct Reference: Decodable {
        let input_ids: [Int]; let attention_mask: [Int]; let shape: [Int]; let lora_logits: [Float]
        let train_losses: [Float]; let train_gradient_norm: Double
    }

    static func logits(_ model: Module, _ reference: Reference) throws -> [Float] {
        let decoder = try #require(model as? DecoderForCausalLM)
        model.eval()
        return try withoutGradients {
            try decoder(reference.input_ids, batch: reference.shape[0], keyMask: reference.attention_mask.map { $0 == 1 }).value.toArray()
        }
    }

    /// Largest |Δ| at the unpadded positions.
    static func worst(_ values: [Float], _ reference: Reference) -> Float {
        let vocabulary = reference.shape[2]
        var worst: Float = 0
        for (position, flag) in reference.attention_mask.enumerated() where flag == 1 {
            for v in 0..<vocabulary { worst = max(worst, abs(values[position * vocabulary + v] - reference.lora_logits[position * vocabulary + v])) }
        }
        return worst
    }

    @Test("peft's adapter gives peft's logits within 1e-4; merged, saved and reloaded it still does",
          arguments: ["mistral", "qwen2", "qwen3", "gemma3", "phi3", "llama32", "phi4mini"])
    func adapter(_ name: String) throws {
        let folder = Self.families.appendingPathComponent(name)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let peft = try PeftModel.load(try DecoderForCausalLM.load(from: folder), adapter: folder.appendingPathComponent("lora"))
        let adapted = try Self.logits(peft.root, reference)
        #expect(Self.worst(adapted, reference) < 1e-4, "\(name): max |Δ| = \(Self.worst(adapted, reference))")
        print("\(name): peft adapter logits max |Δ| = \(Self.worst(adapted, reference))")

        let saved = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: saved) }
        try peft.saveAdapter(to: saved)
        let reloaded = try PeftModel.load(try DecoderForCausalLM.load(from: folder), adapter: saved)
        #expect(Self.worst(try Self.logits(reloaded.root, reference), reference) < 1e-4)

        let merged = try reloaded.mergeAndUnload()
        #expect(Self.worst(try Self.logits(merged, reference), reference) < 1e-4)
    }

    @Test("four AdamW steps from peft's adapter follow PyTorch + peft's losses and first gradient",
          arguments: ["mistral", "qwen2", "qwen3", "gemma3", "phi3", "llama32", "phi4mini"])
    func training(_ name: String) throws {
        let folder = Self.families.appendingPathComponent(name)
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let peft = try PeftModel.load(try DecoderForCausalLM.load(from: folder), adapter: folder.appendingPathComponent("lora"), isTrainable: true)
        let model = try #require(peft.root as? DecoderForCausalLM)
        model.train()
        let (rows, steps) = (reference.shape[0], reference.shape[1])
        // Next-token targets at real positions: position t predicts token t + 1 of its row.
        var targets = [Int](repeating: -100, count: rows * steps)
        for row in 0..<rows {
            for t in 0..<(steps - 1) where reference.attention_mask[row * steps + t + 1] == 1 {
                targets[row * steps + t] = reference.input_ids[row * steps + t + 1]
            }
        }
        let optimizer = AdamW(learningRate: 1e-2, weightDecay: 0)
        var losses: [Float] = []
        for step in 0..<reference.train_losses.count {
            for (_, parameter) in model.trainableParameters() { parameter.zeroGrad() }
            let logits = try model(reference.input_ids, batch: rows, keyMask: reference.attention_mask.map { $0 == 1 })
            let loss = try crossEntropy(logits: logits, targets: targets)
            loss.backward()
            if step == 0 {
                let norm = model.trainableParameters().reduce(0.0) { sum, entry in
                    sum + (entry.parameter.grad?.toArray() ?? []).reduce(0.0) { $0 + Double($1) * Double($1) }
                }.squareRoot()
                #expect(abs(norm - reference.train_gradient_norm) <= 1e-4 * reference.train_gradient_norm,
                        "\(name): gradient norm \(norm) vs \(reference.train_gradient_norm)")
            }
            losses.append(loss.value.toArray()[0])
            optimizer.step(model)
        }
        let worst = zip(losses, reference.train_losses).map { abs($0 - $1) / $1 }.max() ?? .infinity
        print("\(name): 4 AdamW steps, losses max relative |Δ| = \(worst)")
        #expect(worst < 1e-5, "\(name): losses \(losses) vs \(reference.train_losses)")
    }
}
