import Foundation
import ModelIO
import Testing

let modelIOFixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

@Suite("Reference fixtures (safetensors and gguf Python packages)")
struct ReferenceFixtureTests {
    struct GGUFReference: Decodable { let type: String; let shape: [Int]; let bits: [UInt32] }

    @Test("every quantized type dequantizes bit-identically to gguf.quants.dequantize")
    func dequantization() throws {
        let file = try GGUFFile(contentsOf: modelIOFixtures.appendingPathComponent("quants.gguf"))
        let reference = try JSONDecoder().decode([String: GGUFReference].self,
                                                 from: Data(contentsOf: modelIOFixtures.appendingPathComponent("quants.json")))
        #expect(file.tensors.count == reference.count)
        for tensor in file.tensors {
            let expected = try #require(reference[tensor.name])
            #expect("\(tensor.type)".uppercased() == expected.type.uppercased())
            #expect(tensor.dimensions.reversed() == expected.shape)
            let values = try file.floats(of: tensor)
            let mismatches = zip(values, expected.bits).filter { $0.bitPattern != $1 }.count
            #expect(mismatches == 0, "\(tensor.name): \(mismatches) of \(values.count) values differ")
        }
    }

    struct SafetensorsReference: Decodable { let dtype: String; let shape: [Int]; let values: [Double] }

    @Test("a file written by safetensors (torch) reads back exactly")
    func safetensorsRead() throws {
        let file = try SafetensorsFile(contentsOf: modelIOFixtures.appendingPathComponent("small.safetensors"))
        let reference = try JSONDecoder().decode([String: SafetensorsReference].self,
                                                 from: Data(contentsOf: modelIOFixtures.appendingPathComponent("small.json")))
        #expect(file.metadata == ["format": "pt", "note": "fixture"])
        #expect(Set(file.tensors.map(\.name)) == Set(reference.keys))
        for tensor in file.tensors {
            let expected = try #require(reference[tensor.name])
            #expect(tensor.shape == expected.shape)
            if tensor.dtype == .i64 || tensor.dtype == .bool {
                #expect(try file.integers(of: tensor).map(Double.init) == expected.values, "\(tensor.name)")
            } else {
                #expect(try file.floats(of: tensor).map(Double.init) == expected.values.map { Double(Float($0)) }, "\(tensor.name)")
            }
        }
    }
}
