import Autograd
import Foundation
import Models
import Testing
import Tensors
import Tokenizers

/// The real Gemma 3 270M GGUF (Q4_K_M) against transformers loading the same file
/// (Fixtures/make_gemma3_reference.py). Opt-in:
///
///     Scripts/fetch-models.sh gemma3
///     PEFTKIT_GEMMA3_GGUF=~/.cache/peftkit/models/gemma-3-270m-q4_k_m.gguf swift test -c release --filter Gemma3RealModel
@Suite("Gemma 3 270M against transformers", .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_GEMMA3_GGUF"] != nil))
struct Gemma3RealModelTests {
    struct Reference: Decodable {
        let corpus: [String]; let ids: [[Int]]; let decoded: [String]
        let prompt: [Int]; let top_ids: [Int]; let top_logits: [Float]; let greedy: [Int]
    }

    static var file: URL { URL(fileURLWithPath: ProcessInfo.processInfo.environment["PEFTKIT_GEMMA3_GGUF"] ?? "/nonexistent") }
    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: TinyModelParityTests.fixtures.appendingPathComponent("gemma3_270m_reference.json")))
    }

    @Test("the SentencePiece vocabulary gives transformers' ids on a multilingual corpus and decodes back")
    func tokenizer() throws {
        let reference = try Self.reference()
        let tokenizer = try Tokenizer.load(from: Self.file)
        for (index, text) in reference.corpus.enumerated() {
            let ids = try tokenizer.encode(text, parseSpecialTokens: true)
            #expect(ids == reference.ids[index], "\(text.debugDescription): \(ids) vs \(reference.ids[index])")
            #expect(try tokenizer.decode(ids, skipSpecialTokens: true) == reference.decoded[index], "\(text.debugDescription) decodes back")
        }
        #expect(tokenizer.chatTemplate == BuiltinChatTemplates.gemma, "the file has no template; the family's built-in one applies")
    }

    @Test("the vocabulary written as tokenizer.json (for a merged folder) reads back with the same ids")
    func exportedTokenizer() throws {
        let reference = try Self.reference()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gemma-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Tokenizer.load(from: Self.file).saveHuggingFaceFiles(to: folder)
        let reread = try Tokenizer.load(from: folder)
        for (index, text) in reference.corpus.enumerated() {
            #expect(try reread.encode(text, parseSpecialTokens: true) == reference.ids[index], "\(text.debugDescription)")
        }
        #expect(reread.chatTemplate == BuiltinChatTemplates.gemma)
    }

    @Test("logits and greedy tokens: float (dequantized) and packed K-quant blocks")
    func logitsAndGreedy() throws {
        let reference = try Self.reference()
        let float = try DecoderForCausalLM.load(from: Self.file)
        let packed = try DecoderForCausalLM.load(from: Self.file, quantization: .keepGGUF)
        #expect(!packed.namedPackedParameters().isEmpty)
        for model in [float, packed] {
            #expect(model.loadReport.unexpectedKeys.isEmpty, "\(model.loadReport.unexpectedKeys)")
            let logits = try withoutGradients { try model.lastLogits(reference.prompt, cache: model.makeCache()) }
            let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(reference.top_ids.count)
            #expect(Array(top.prefix(5)) == Array(reference.top_ids.prefix(5)))
            let worst = zip(reference.top_ids, reference.top_logits).map { abs(logits[$0] - $1) }.max() ?? .infinity
            #expect(worst < 2e-3, "max |Δ| over transformers' top 20 = \(worst)")
            print("Gemma 3 270M \(model.namedPackedParameters().isEmpty ? "float" : "packed"): max |Δ| over transformers' top 20 logits = \(worst)")
            // Exact decoding: the dequantized model's function, so transformers' tokens.
            let greedy = try model.generate(prompt: reference.prompt, options: GenerationOptions(maxNewTokens: reference.greedy.count, packedDecode: .exact))
            #expect(greedy == reference.greedy)
        }
        // Integer-activation decoding (the default, as llama.cpp decodes) may part from the exact tokens
        // only where the exact model's top choices nearly tie: the token it picks there scores within
        // 0.05 of the best in the exact logits. (Measured: step 12, where transformers' top two logits
        // are 0.0136 apart.)
        let integer = try packed.generate(prompt: reference.prompt, options: GenerationOptions(maxNewTokens: reference.greedy.count))
        if let step = zip(integer, reference.greedy).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            let logits = try withoutGradients { try float.lastLogits(reference.prompt + reference.greedy[..<step], cache: float.makeCache()) }
            let best = logits.max()!
            #expect(best - logits[integer[step]] < 0.05, "integer decoding chose \(integer[step]) at step \(step + 1), \(best - logits[integer[step]]) below the best")
            #expect(step >= 4, "integer decoding parted at step \(step + 1)")
        }
        // The packed path computes the dequantized model's function exactly in float.
        let a = try withoutGradients { try float(reference.prompt).value.toArray() }
        let b = try withoutGradients { try packed(reference.prompt).value.toArray() }
        #expect(a == b, "packed and dequantized logits differ by \(zip(a, b).map { abs($0 - $1) }.max() ?? 0)")
    }
}
