import Autograd
import Foundation
import ModelIO
import Models
import NN
import Testing
import Tensors

/// Float32 weights are used in place from the memory-mapped file instead of being copied.
@Suite("memory-mapped weights")
struct MappedWeightsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The tiny Llama fixture with a vocabulary of 8192, so that its embedding and head (1 MiB each)
    /// reach `Tensor.minimumBorrowedByteCount`; every other tensor stays below it.
    private func tinyLlamaWithLargeVocabulary() throws -> URL {
        let source = Self.fixtures.appendingPathComponent("tiny-llama")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var config = try String(contentsOf: source.appendingPathComponent("config.json"), encoding: .utf8)
        config = config.replacingOccurrences(of: "\"vocab_size\": 97", with: "\"vocab_size\": 8192")
        try config.write(to: folder.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let original = try SafetensorsFile(contentsOf: source.appendingPathComponent("model.safetensors"))
        var generator = SeededRandom(seed: 11)
        let entries = original.tensors.map { tensor -> SafetensorsWriter.Entry in
            guard tensor.name == "model.embed_tokens.weight" || tensor.name == "lm_head.weight" else {
                return SafetensorsWriter.Entry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: original.bytes(of: tensor))
            }
            return Tensor.randomNormal([8192, 32], std: 0.02, generator: &generator).safetensorsEntry(named: tensor.name)
        }
        try SafetensorsWriter.write(entries, to: folder.appendingPathComponent("model.safetensors"))
        return folder
    }

    @Test("large F32 safetensors weights load without copying; the model outlives its files; writes copy")
    func folder() throws {
        let folder = try tinyLlamaWithLargeVocabulary()
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try LlamaForCausalLM.load(from: folder)
        let other = try LlamaForCausalLM.load(from: folder)
        let parameters = model.namedParameters()
        let large: Set = ["model.embed_tokens.weight", "lm_head.weight"]
        for (path, parameter) in parameters {
            #expect(parameter.value.storage.kind == (large.contains(path) ? .borrowed : .owned), "\(path)")
        }
        let tokens = [1, 5, 9, 2, 7, 8000]
        let before = try withoutGradients { try model(tokens, batch: 2).value }
        try FileManager.default.removeItem(at: folder)
        let after = try withoutGradients { try model(tokens, batch: 2).value }
        #expect(before == after, "the mapping keeps the removed file's bytes")

        // A write (an optimizer step, a merge) copies the one tensor it touches into owned memory.
        let head = try #require(parameters.first { $0.path == "lm_head.weight" }?.parameter)
        let original = head.value[flat: 0]
        head.value[flat: 0] = original + 1
        #expect(head.value.storage.kind == .owned)
        let twin = try #require(other.namedParameters().first { $0.path == "lm_head.weight" }?.parameter)
        #expect(twin.value[flat: 0] == original && twin.value.storage.kind == .borrowed)
        #expect(try withoutGradients { try other(tokens, batch: 2).value } == before)
    }

    @Test("GGUF: a large F32 tensor is borrowed; small ones (norms) and the tiny fixture's weights are copied")
    func gguf() throws {
        // One F32 tensor of 1 MiB: magic, version 3, one tensor, no metadata, its entry, padding to 32.
        var bytes = Array("GGUF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
        append(UInt32(3)); append(UInt64(1)); append(UInt64(0))
        append(UInt64(1)); bytes += Array("w".utf8)
        append(UInt32(2)); append(UInt64(512)); append(UInt64(512)); append(UInt32(0)); append(UInt64(0))
        while bytes.count % 32 != 0 { bytes.append(0) }
        for index in 0..<(512 * 512) { append(Float(index).bitPattern) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString).gguf")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try GGUFFile(contentsOf: url)
        let tensor = try Tensor.loading(file.tensors[0], from: file, shape: [512, 512])
        #expect(tensor.storage.kind == .borrowed && tensor[511, 511] == Float(512 * 512 - 1))
        #expect(try Tensor.loading(file.tensors[0], from: GGUFFile(data: Data(bytes)), shape: [512, 512]).storage.kind == .owned)
        #expect(throws: ModelFileError.self) { try Tensor.loading(file.tensors[0], from: file, shape: [512, 511]) }
        #expect(throws: ModelFileError.self) { try Tensor.loading(file.tensors[0], from: file, shape: [-512, -512]) }
        // A tensor entry naming data beyond this file lends nothing.
        var foreign = file.tensors[0]
        foreign.offset = 1 << 40
        #expect(file.mappedBytes(of: foreign) == nil && file.mappedFloat32Elements(of: foreign) == nil)

        let fixture = Self.fixtures.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PEFTTests/Fixtures/tiny-llama.gguf")
        let model = try LlamaForCausalLM.load(from: fixture)
        #expect(model.namedParameters().allSatisfy { $0.parameter.value.storage.kind == .owned })
    }
}
