import Foundation
import ModelIO
import Testing

/// Builds GGUF bytes field by field, so each test can break exactly one rule.
struct GGUFBuilder {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

    static func header(version: UInt32 = 3, tensors: UInt64, keys: UInt64) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.bytes = Array("GGUF".utf8)
        b.u32(version); b.u64(tensors); b.u64(keys)
        return b
    }

    /// A valid file: one u32 key, one string array, and one F32 tensor of 4 elements.
    static func valid() -> GGUFBuilder {
        var b = header(tensors: 1, keys: 2)
        b.string("general.alignment"); b.u32(4); b.u32(32)
        b.string("tokenizer.ggml.tokens"); b.u32(9); b.u32(8); b.u64(2); b.string("a"); b.string("b")
        b.string("w"); b.u32(1); b.u64(4); b.u32(0); b.u64(0)
        while b.bytes.count % 32 != 0 { b.bytes.append(0) }
        for value: Float in [1, 2, 3, 4] { b.u32(value.bitPattern) }
        return b
    }
}

@Suite("GGUF parsing")
struct GGUFParsingTests {
    func parse(_ b: GGUFBuilder) throws -> GGUFFile { try GGUFFile(data: Data(b.bytes)) }

    @Test func validFile() throws {
        let file = try parse(.valid())
        #expect(file.version == 3 && file.alignment == 32)
        #expect(file.metadata["tokenizer.ggml.tokens"] == .array(.string(["a", "b"])))
        let tensor = file.tensors[0]
        #expect(file.tensors.count == 1 && tensor.name == "w" && tensor.dimensions == [4] && tensor.type == .f32)
        #expect(tensor.offset == 0 && tensor.elementCount == 4 && tensor.byteCount == 16)
        let data = file.bytes(of: file.tensors[0])
        #expect(data.count == 16)
    }

    @Test("hostile headers give specific errors")
    func hostile() {
        var badMagic = GGUFBuilder.valid(); badMagic.bytes[0] = 0x46
        #expect(throws: ModelFileError.badMagic(found: [0x46, 0x47, 0x55, 0x46])) { try parse(badMagic) }

        var version = GGUFBuilder.valid(); version.bytes[4] = 9
        #expect(throws: ModelFileError.unsupportedVersion(9)) { try parse(version) }

        let truncated = GGUFBuilder(bytes: Array(GGUFBuilder.valid().bytes.prefix(30)))
        #expect(throws: ModelFileError.self) { try parse(truncated) }

        var hugeString = GGUFBuilder.header(tensors: 0, keys: 1)
        hugeString.u64(1 << 63)
        hugeString.bytes += [UInt8](repeating: 0, count: 16)
        #expect(throws: ModelFileError.invalidLength(value: 1 << 63, what: "metadata key #0")) { try parse(hugeString) }

        var hugeArray = GGUFBuilder.header(tensors: 0, keys: 1)
        hugeArray.string("k"); hugeArray.u32(9); hugeArray.u32(4); hugeArray.u64(1 << 62)
        #expect(throws: ModelFileError.invalidLength(value: 1 << 62, what: "array 'k'")) { try parse(hugeArray) }

        var unknownType = GGUFBuilder.header(tensors: 0, keys: 1)
        unknownType.string("k"); unknownType.u32(99)
        #expect(throws: ModelFileError.unknownType(code: 99, what: "metadata 'k'")) { try parse(unknownType) }

        var duplicate = GGUFBuilder.header(tensors: 0, keys: 2)
        duplicate.string("k"); duplicate.u32(4); duplicate.u32(1)
        duplicate.string("k"); duplicate.u32(4); duplicate.u32(2)
        #expect(throws: ModelFileError.invalidStructure("duplicate metadata key 'k'")) { try parse(duplicate) }

        var alignment = GGUFBuilder.header(tensors: 0, keys: 1)
        alignment.string("general.alignment"); alignment.u32(4); alignment.u32(24)
        #expect(throws: ModelFileError.self) { try parse(alignment) }

        var tooManyCounts = GGUFBuilder.header(tensors: UInt64.max, keys: 0)
        tooManyCounts.u64(0)
        #expect(throws: ModelFileError.invalidLength(value: UInt64.max, what: "tensor count")) { try parse(tooManyCounts) }

        var rank = GGUFBuilder.header(tensors: 1, keys: 0)
        rank.string("w"); rank.u32(5); for _ in 0..<5 { rank.u64(1) }; rank.u32(0); rank.u64(0)
        #expect(throws: ModelFileError.invalidStructure("tensor 'w' has 5 dimensions (1 to 4 allowed)")) { try parse(rank) }

        var overflow = GGUFBuilder.header(tensors: 1, keys: 0)
        overflow.string("w"); overflow.u32(2); overflow.u64(1 << 40); overflow.u64(1 << 40); overflow.u32(0); overflow.u64(0)
        #expect(throws: ModelFileError.invalidStructure("element count of 'w' overflows")) { try parse(overflow) }

        var blocks = GGUFBuilder.header(tensors: 1, keys: 0)
        blocks.string("w"); blocks.u32(1); blocks.u64(33); blocks.u32(8); blocks.u64(0)
        #expect(throws: ModelFileError.self) { try parse(blocks) }

        var dataPastEnd = GGUFBuilder.valid()
        var misplaced = GGUFBuilder.header(tensors: 1, keys: 0)
        misplaced.string("w"); misplaced.u32(1); misplaced.u64(4); misplaced.u32(0); misplaced.u64(32)
        while misplaced.bytes.count % 32 != 0 { misplaced.bytes.append(0) }
        misplaced.bytes += [UInt8](repeating: 0, count: 64)
        #expect(throws: ModelFileError.invalidStructure("tensor 'w' starts at data offset 32, expected 0")) { try parse(misplaced) }
        dataPastEnd.bytes.removeLast(4)
        #expect(throws: ModelFileError.truncated(offset: 160, needed: 16, available: 12, what: "data of 'w'")) { try parse(dataPastEnd) }
    }

    @Test("2,000 seeded random mutations of a valid file never crash")
    func mutations() {
        var seed: UInt64 = 0x9E37_79B9
        let valid = GGUFBuilder.valid().bytes
        for _ in 0..<2_000 {
            var bytes = valid
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            for _ in 0..<(1 + Int(seed >> 62)) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let position = Int(seed >> 33) % bytes.count
                bytes[position] = UInt8(truncatingIfNeeded: seed >> 17)
            }
            _ = try? GGUFFile(data: Data(bytes))
        }
    }
}
