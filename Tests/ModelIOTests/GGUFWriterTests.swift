import Foundation
@testable import ModelIO
import Testing

/// The GGUF writer's files read back through the hardened reader: every value type, the tensor
/// directory in GGUF's dimension order, alignment, and refusals of inconsistent tensors.
@Suite struct GGUFWriterTests {
    @Test("every metadata type and f32/f16/q8_0 tensors round-trip through GGUFFile; data is aligned")
    func roundTrip() throws {
        var writer = GGUFWriter()
        let values: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")), ("u8", .uint8(7)), ("i8", .int8(-7)), ("u16", .uint16(700)), ("i16", .int16(-700)),
            ("u32", .uint32(70_000)), ("i32", .int32(-70_000)), ("u64", .uint64(7 << 40)), ("i64", .int64(-(7 << 40))),
            ("f32", .float32(0.25)), ("f64", .float64(-1.5)), ("yes", .bool(true)), ("text", .string("héllo")),
            ("tokens", .array(.string(["<s>", "a", "ü"]))), ("scores", .array(.float32([0.5, -1]))), ("ids", .array(.int32([1, -2, 3]))),
            ("nested", .array(.array([.uint8([1, 2]), .string(["x"])]))),
        ]
        for (key, value) in values { writer.set(key, value) }
        writer.set("u8", .uint8(9))  // a repeated key replaces its value, keeping its place
        writer.add(GGUFWriter.Tensor(name: "a.weight", shape: [3, 5], floats: (0..<15).map { Float($0) / 4 }))
        writer.add(GGUFWriter.Tensor(name: "b.weight", shape: [2, 3], halfFloats: [1, -2, 0.5, 65504, 1e-3, 0]))
        let q8 = Data((0..<(2 * 34)).map { UInt8($0 % 251) })
        writer.add(GGUFWriter.Tensor(name: "c.weight", shape: [2, 32], type: .q8_0, bytes: q8))
        let data = try writer.encode()
        let file = try GGUFFile(data: data)
        #expect(file.version == 3)
        #expect(file.metadataKeys == values.map(\.0))
        for (key, value) in values where key != "u8" { #expect(file.metadata[key] == value, "\(key)") }
        #expect(file.metadata["u8"] == .uint8(9))
        #expect(file.tensors.map(\.name) == ["a.weight", "b.weight", "c.weight"])
        #expect(file.tensors.map(\.dimensions) == [[5, 3], [3, 2], [32, 2]], "GGUF order: the fastest dimension first")
        #expect(try file.floats(of: file.tensors[0]) == (0..<15).map { Float($0) / 4 })
        #expect(try file.floats(of: file.tensors[1]) == [1, -2, 0.5, 65504, HalfPrecision.float(fromHalf: HalfPrecision.half(from: 1e-3)), 0])
        #expect(file.bytes(of: file.tensors[2]) == q8)
        #expect(file.dataOffset % 32 == 0 && file.tensors.allSatisfy { $0.offset % 32 == 0 })
    }

    @Test("duplicate names and bytes that do not fit the shape are refused, naming the tensor")
    func refusals() {
        var duplicate = GGUFWriter()
        duplicate.add(GGUFWriter.Tensor(name: "x", shape: [1], floats: [0]))
        duplicate.add(GGUFWriter.Tensor(name: "x", shape: [1], floats: [0]))
        #expect(throws: ModelFileError.self) { try duplicate.encode() }
        var short = GGUFWriter()
        short.add(GGUFWriter.Tensor(name: "q", shape: [1, 32], type: .q8_0, bytes: Data(count: 33)))
        #expect { try short.encode() } throws: { "\($0)".contains("'q'") }
    }
}
