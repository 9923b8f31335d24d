import Foundation
import ModelIO
import Testing

@Suite("safetensors")
struct SafetensorsTests {
    /// A file from a raw header string and data length.
    func file(header: String, data: [UInt8] = [], padding: Bool = true) -> Data {
        var json = Array(header.utf8)
        if padding { while json.count % 8 != 0 { json.append(0x20) } }
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init)
        bytes += json + data
        return Data(bytes)
    }

    @Test("write → read round trip, header padded to 8 bytes, metadata kept")
    func roundTrip() throws {
        let entries = [
            SafetensorsWriter.Entry(name: "a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
            SafetensorsWriter.Entry(name: "half", dtype: .f16, shape: [2],
                                    bytes: Data([HalfPrecision.half(from: 1.5), HalfPrecision.half(from: -0.25)].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })),
            SafetensorsWriter.Entry(name: "scalar", shape: [], floats: [7]),
            SafetensorsWriter.Entry(name: "empty", shape: [0, 5], floats: []),
        ]
        let data = try SafetensorsWriter.encode(entries, metadata: ["format": "pt"])
        let headerLength = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
        let parsed = try SafetensorsFile(data: data)
        #expect(parsed.metadata == ["format": "pt"])
        #expect(try parsed.floats(of: parsed.tensor(named: "a")!) == [1, 2, 3, 4, 5, 6])
        #expect(try parsed.floats(of: parsed.tensor(named: "half")!) == [1.5, -0.25])
        #expect(parsed.tensor(named: "scalar")?.shape == [])
        #expect(try parsed.floats(of: parsed.tensor(named: "scalar")!) == [7])
        #expect(parsed.tensor(named: "empty")?.elementCount == 0)
    }

    @Test("atomic write: a failed encode leaves the existing file untouched")
    func atomicWrite() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafetensorsWriter.write([.init(name: "a", shape: [1], floats: [1])], to: url)
        let before = try Data(contentsOf: url)
        #expect(throws: ModelFileError.self) {
            try SafetensorsWriter.write([.init(name: "a", dtype: .f32, shape: [2], bytes: Data([0, 0, 0]))], to: url)
        }
        #expect(try Data(contentsOf: url) == before)
        try SafetensorsWriter.write([.init(name: "b", shape: [1], floats: [2])], to: url)
        #expect(try SafetensorsFile(contentsOf: url).tensor(named: "b") != nil)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
            .filter { $0.hasPrefix(".\(url.lastPathComponent)") }
        #expect(leftovers.isEmpty)
    }

    @Test("hostile files give specific errors", arguments: [
        ("header past end", "LEN", "truncated"),
        ("header over 100 MB", "HUGE", "invalid length"),
        ("not JSON", #"{"a": "#, "not valid JSON"),
        ("not an object", #"[1, 2]"#, "not a JSON object"),
        ("unknown dtype", #"{"a": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}}"#, "unknown dtype 'F8'"),
        ("duplicate", #"{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}"#, "duplicate tensor name 'a'"),
        ("size mismatch", #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#, "needs 8"),
        ("overflow", #"{"a": {"dtype": "F32", "shape": [4000000000000000, 4000], "data_offsets": [0, 4]}}"#, "overflows"),
        ("negative dimension", #"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, "invalid dimension"),
        ("overlap", #"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}"#, "overlaps"),
        ("gap", #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "b": {"dtype": "U8", "shape": [2], "data_offsets": [4, 6]}}"#, "gap in the data buffer"),
        ("trailing bytes", #"{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}"#, "not covered"),
        ("data past end", #"{"a": {"dtype": "U8", "shape": [9], "data_offsets": [0, 9]}}"#, "truncated"),
        ("metadata not strings", #"{"__metadata__": {"a": 1}}"#, "not a string"),
    ])
    func hostile(name: String, header: String, reason: String) {
        let data: Data
        switch header {
        case "LEN": data = Data(withUnsafeBytes(of: UInt64(1_000).littleEndian, Array.init) + [0x7B, 0x7D])
        case "HUGE": data = Data(withUnsafeBytes(of: UInt64(200_000_000).littleEndian, Array.init) + [0x7B, 0x7D])
        default: data = file(header: header, data: [UInt8](repeating: 0, count: 8))
        }
        do {
            _ = try SafetensorsFile(data: data)
            Issue.record("\(name): accepted")
        } catch let error as ModelFileError {
            #expect(error.description.contains(reason), "\(name): \(error.description)")
        } catch {
            Issue.record("\(name): untyped error \(error)")
        }
    }

    @Test("invalid UTF-8 in the header")
    func invalidUTF8() {
        var bytes = withUnsafeBytes(of: UInt64(8).littleEndian, Array.init)
        bytes += [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]
        #expect(throws: ModelFileError.invalidUTF8(what: "safetensors header")) { try SafetensorsFile(data: Data(bytes)) }
    }

    @Test("2,000 seeded random mutations of a valid file never crash")
    func mutations() throws {
        let valid = try SafetensorsWriter.encode([.init(name: "a", shape: [2, 2], floats: [1, 2, 3, 4]),
                                                  .init(name: "b", shape: [3], floats: [5, 6, 7])])
        var seed: UInt64 = 12345
        for _ in 0..<2_000 {
            var bytes = [UInt8](valid)
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            for _ in 0..<(1 + Int(seed >> 62)) {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                bytes[Int(seed >> 33) % bytes.count] = UInt8(truncatingIfNeeded: seed >> 17)
            }
            if let parsed = try? SafetensorsFile(data: Data(bytes)) {
                for tensor in parsed.tensors { _ = try? parsed.floats(of: tensor) }
            }
        }
    }

    @Test("half-precision conversions are exact", arguments: [
        (UInt16(0x3C00), Float(1)), (0xC000, -2), (0x7BFF, 65504), (0x0001, 5.960464477539063e-08), (0x0000, 0), (0x8000, -0.0),
    ])
    func halves(bits: UInt16, value: Float) {
        #expect(HalfPrecision.float(fromHalf: bits) == value)
        #expect(HalfPrecision.half(from: value) == bits)
    }
}
