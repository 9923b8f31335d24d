import Autograd
import Foundation
import Models
import Testing
import Tensors

@Suite("BERT parity with transformers")
struct BertParityTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Reference: Decodable {
        let input_ids: [Int]; let attention_mask: [Int]; let token_type_ids: [Int]
        let hidden: [Float]; let pooled: [Float]; let logits: [Float]
    }

    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test("tiny BertForSequenceClassification: hidden states, pooled output and logits within 1e-4, with padding and segments")
    func tinyBert() throws {
        let folder = Self.fixtures.appendingPathComponent("tiny-bert")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: folder.appendingPathComponent("reference.json")))
        let mask = reference.attention_mask.map { $0 == 1 }
        let classifier = try BertForSequenceClassification.load(folder: folder)
        let bert = try BertModel.load(folder: folder)
        let (hidden, pooled) = try withoutGradients {
            try bert(reference.input_ids, batch: 2, attentionMask: mask, tokenTypeIDs: reference.token_type_ids)
        }
        // Padding positions' hidden states are not compared (transformers leaves them unmasked garbage).
        var kept: [Float] = [], expected: [Float] = []
        let width = hidden.shape[2]
        for (position, real) in mask.enumerated() where real {
            kept += hidden.value.toArray()[(position * width)..<((position + 1) * width)]
            expected += reference.hidden[(position * width)..<((position + 1) * width)]
        }
        #expect(maxDifference(kept, expected) < 1e-4)
        #expect(maxDifference(pooled.value.toArray(), reference.pooled) < 1e-4)
        let logits = try withoutGradients {
            try classifier(reference.input_ids, batch: 2, attentionMask: mask, tokenTypeIDs: reference.token_type_ids)
        }
        #expect(logits.shape == [2, 3])
        #expect(maxDifference(logits.value.toArray(), reference.logits) < 1e-4)
    }

    struct MiniLMReference: Decodable { let input_ids: [Int]; let attention_mask: [Int]; let shape: [Int]; let hidden: [Float] }

    /// Opt-in: PEFTKIT_MINILM_DIR=~/.cache/peftkit/models/all-MiniLM-L6-v2 (Scripts/fetch-models.sh minilm).
    @Test("the real all-MiniLM-L6-v2 matches transformers", .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_MINILM_DIR"] != nil))
    func realMiniLM() throws {
        let folder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_MINILM_DIR"]!)
        let reference = try JSONDecoder().decode(MiniLMReference.self,
                                                 from: Data(contentsOf: Self.fixtures.appendingPathComponent("minilm_reference.json")))
        let model = try BertModel.load(folder: folder)
        let mask = reference.attention_mask.map { $0 == 1 }
        let hidden = try withoutGradients { try model(reference.input_ids, batch: reference.shape[0], attentionMask: mask).hidden }
        let width = reference.shape[2]
        var worst: Float = 0
        for (position, real) in mask.enumerated() where real {
            for j in 0..<width { worst = max(worst, abs(hidden.value[flat: position * width + j] - reference.hidden[position * width + j])) }
        }
        #expect(worst < 1e-4, "max |Δ| = \(worst)")
    }
}
