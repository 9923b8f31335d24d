import Foundation
import ModelIO
import Testing

@Suite("file mapping")
struct FileMappingTests {
    private func temporaryFile(_ data: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapping-\(UUID().uuidString).bin")
        try data.write(to: url)
        return url
    }

    @Test("a mapped file's bytes, and Data that keeps the mapping alive")
    func bytes() throws {
        let url = try temporaryFile(Data([1, 2, 3, 4, 5]))
        defer { try? FileManager.default.removeItem(at: url) }
        let data = try FileMapping(url: url).data
        #expect(Array(data) == [1, 2, 3, 4, 5])
    }

    @Test("missing files, folders and empty files give typed errors naming the path")
    func badPaths() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("absent-\(UUID().uuidString)")
        #expect { _ = try FileMapping(url: missing) } throws: { error in
            guard case let ModelFileError.unreadable(path, _) = error else { return false }
            return path == missing.path
        }
        let folder = FileManager.default.temporaryDirectory
        #expect { _ = try FileMapping(url: folder) } throws: { error in
            guard case let ModelFileError.unreadable(_, reason) = error else { return false }
            return reason == "is a directory"
        }
        #expect { _ = try SafetensorsFile(contentsOf: folder) } throws: { error in
            if case ModelFileError.unreadable = error { return true } else { return false }
        }
        let empty = try temporaryFile(Data())
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect(try FileMapping(url: empty).bytes.isEmpty)
        #expect { _ = try SafetensorsFile(contentsOf: empty) } throws: { error in
            if case ModelFileError.truncated = error { return true } else { return false }
        }
        #expect { _ = try GGUFFile(contentsOf: empty) } throws: { error in
            if case ModelFileError.truncated = error { return true } else { return false }
        }
    }

    @Test("F32 safetensors data are lent in place; other dtypes, unaligned data and in-memory files are not")
    func lending() throws {
        let entries = [
            SafetensorsWriter.Entry(name: "f32", shape: [2, 2], floats: [1, 2, 3, 4]),
            SafetensorsWriter.Entry(name: "f16", dtype: .f16, shape: [1], bytes: Data(withUnsafeBytes(of: HalfPrecision.half(from: 1).littleEndian, Array.init))),
        ]
        let url = try temporaryFile(try SafetensorsWriter.encode(entries))
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try SafetensorsFile(contentsOf: url)
        let lent = try #require(file.mappedFloat32Elements(of: file.tensor(named: "f32")!))
        #expect(Array(lent.elements) == [1, 2, 3, 4])
        #expect(lent.owner === file.mapping)
        #expect(file.mappedFloat32Elements(of: file.tensor(named: "f16")!) == nil)
        #expect(try SafetensorsFile(data: Data(contentsOf: url)).mappedFloat32Elements(of: file.tensor(named: "f32")!) == nil)

        // A header of 3 bytes (valid: padding is optional) puts the data at byte 11, not 4-aligned.
        var bytes = withUnsafeBytes(of: UInt64(0).littleEndian, Array.init)
        let header = Array(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + withUnsafeBytes(of: Float(2.5).bitPattern.littleEndian, Array.init)
        #expect((8 + header.count) % 4 != 0)
        let unaligned = try temporaryFile(Data(bytes))
        defer { try? FileManager.default.removeItem(at: unaligned) }
        let odd = try SafetensorsFile(contentsOf: unaligned)
        #expect(odd.mappedFloat32Elements(of: odd.tensor(named: "x")!) == nil)
        #expect(try odd.floats(of: odd.tensor(named: "x")!) == [2.5])
    }

    @Test("the mapped bytes outlive the file's removal and its replacement by rename")
    func replacedOnDisk() throws {
        let url = try temporaryFile(try SafetensorsWriter.encode([SafetensorsWriter.Entry(name: "w", shape: [3], floats: [1, 2, 3])]))
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try SafetensorsFile(contentsOf: url)
        let replacement = try temporaryFile(try SafetensorsWriter.encode([SafetensorsWriter.Entry(name: "w", shape: [3], floats: [7, 8, 9])]))
        #expect(rename(replacement.path, url.path) == 0)
        #expect(try SafetensorsFile(contentsOf: url).floats(of: file.tensor(named: "w")!) == [7, 8, 9])
        #expect(try file.floats(of: file.tensor(named: "w")!) == [1, 2, 3])
        #expect(Array(file.mappedFloat32Elements(of: file.tensor(named: "w")!)!.elements) == [1, 2, 3])
    }
}
