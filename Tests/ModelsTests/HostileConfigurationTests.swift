import Foundation
import ModelIO
import Models
import NN
import Testing

/// Configurations that disagree with their weights or claim absurd sizes fail with a typed error
/// naming the field, before the model allocates anything (issue: hostile inputs, class 4).
@Suite("Hostile model configurations")
struct HostileConfigurationTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func shapes(_ module: Module) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.path, $0.parameter.shape) })
    }

    func planned(_ plan: ParameterPlan) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: plan.shapes.map { ($0.name, $0.shape) })
    }

    @Test("each architecture's parameter plan is exactly its module tree")
    func plansMatchModels() throws {
        for tied in [false, true] {
            for bias in [false, true] {
                let c = LlamaConfiguration(vocabularySize: 11, hiddenSize: 8, intermediateSize: 12, layerCount: 2, attentionHeads: 4,
                                           keyValueHeads: 2, tieWordEmbeddings: tied, attentionBias: bias)
                #expect(planned(c.parameterPlan()) == shapes(try LlamaForCausalLM(c)))
            }
        }
        let gpt2 = GPT2Configuration(vocabularySize: 9, contextLength: 7, embeddingSize: 8, layerCount: 2, heads: 2)
        #expect(planned(gpt2.parameterPlan()) == shapes(GPT2LMHeadModel(gpt2)))
        let bert = BertConfiguration(vocabularySize: 9, hiddenSize: 8, layerCount: 2, attentionHeads: 2, intermediateSize: 12)
        #expect(planned(bert.parameterPlan()) == shapes(BertModel(bert)))
        var classifier = bert.parameterPlan(prefix: "bert.")
        classifier.addLinear("classifier", out: 3, in: 8, bias: true)
        #expect(planned(classifier) == shapes(BertForSequenceClassification(bert, labels: 3)))
    }

    /// A copy of the tiny Llama folder with `config.json` fields replaced.
    func tinyLlama(_ fields: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("tiny-llama"), to: folder)
        let url = folder.appendingPathComponent("config.json")
        var text = try String(contentsOf: url, encoding: .utf8)
        for (key, value) in fields {
            text = text.replacingOccurrences(of: #"("\#(key)": )[0-9.e+]+"#, with: "$1\(value)", options: .regularExpression)
        }
        try Data(text.utf8).write(to: url)
        return folder
    }

    func failure(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch let error as ModelError { return error.description } catch { return "untyped \(error)" }
    }

    @Test("config.json sizes from 2³¹ to 2⁶², or ones the weights do not have, are typed errors", arguments: [
        (["hidden_size": "1099511627776"], "'hidden_size': 1099511627776 is outside 1...1048576"),
        (["vocab_size": "4611686018427387904"], "'vocab_size': 4.611686018427388e+18 is too large"),
        (["intermediate_size": "2147483648"], "'intermediate_size': 2147483648 is outside"),
        (["num_attention_heads": "2147483648"], "'num_attention_heads': 2147483648 is outside"),
        (["num_hidden_layers": "4000"], "missing weights: model.layers.10"),
        (["vocab_size": "16000000"], "weight 'lm_head.weight' has shape [97, 32], expected [16000000, 32]"),
    ])
    func hostileConfig(_ fields: [String: String], _ message: String) throws {
        let folder = try tinyLlama(fields)
        defer { try? FileManager.default.removeItem(at: folder) }
        let reason = failure { _ = try LlamaForCausalLM.load(from: folder) }
        #expect(reason.contains(message), "\(reason)")
    }

    @Test("a patched GGUF size field is a typed error, not an allocation")
    func hostileGGUF() throws {
        let source = Self.fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("PEFTTests/Fixtures/tiny-llama.gguf")
        let original = try Data(contentsOf: source)
        for (key, value, expected) in [("llama.embedding_length", UInt32.max, "'llama.embedding_length': 4294967295 is outside"),
                                       ("llama.feed_forward_length", 1 << 20, "'model.layers.0.mlp.down_proj.weight' has shape [32, 48], expected [32, 1048576]"),
                                       ("llama.block_count", 4000, "missing weights"),
                                       ("llama.attention.head_count", 3, "'llama.attention.head_count_kv': 2 does not divide 3 heads")]
                as [(String, UInt32, String)] {
            var data = original
            let marker = Data(key.utf8)
            let range = try #require(data.range(of: marker))
            let valueOffset = range.upperBound + 4  // after the u32 type tag
            withUnsafeBytes(of: value.littleEndian) { data.replaceSubrange(valueOffset..<(valueOffset + 4), with: $0) }
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID().uuidString).gguf")
            try data.write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            let reason = failure { _ = try LlamaForCausalLM.load(from: url) }
            #expect(reason.contains(expected), "\(key): \(reason)")
        }
    }

    @Test("generation refuses a prompt longer than the context and stops at the context length")
    func contextLength() throws {
        let model = try LlamaForCausalLM.load(from: Self.fixtures.appendingPathComponent("tiny-llama"))
        #expect(model.contextLength == 256)
        let reason = failure { _ = try model.generate(prompt: Array(repeating: 5, count: 300), options: GenerationOptions(maxNewTokens: 4)) }
        #expect(reason == "the sequence has 300 positions; the model's context holds 256")
        let output = try model.generate(prompt: Array(repeating: 5, count: 250), options: GenerationOptions(maxNewTokens: 50))
        #expect(output.count == 6)
    }
}
