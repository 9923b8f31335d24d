import Foundation
import ModelIO
import Testing
@testable import Training

/// TensorBoard event files (issue 28, item 4): records framed and checksummed as TensorFlow's, the
/// events decoded here equal the metrics log.
@Suite struct TensorBoardTests {
    @Test("CRC-32C and its mask match TensorFlow's")
    func checksums() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // TensorFlow's masked CRCs (crc32c.masked_crc32c in the tensorboard package): of nothing, and of "123456789".
        #expect(CRC32C.masked([UInt8]()) == 0xA282_EAD8)
        #expect(CRC32C.masked(Array("123456789".utf8)) == 0xC78A_B0E5)
        #expect(TensorBoardLog.varint(300) == [0xAC, 0x02] && TensorBoardLog.varint(0) == [0])
        #expect(TensorBoardLog.tag("eval_loss") == "eval/loss" && TensorBoardLog.tag("retain_general_kl") == "retain/general_kl" && TensorBoardLog.tag("loss") == "train/loss")
    }

    /// The records of an event file, each checked against its CRCs.
    static func records(_ data: Data) throws -> [[UInt8]] {
        var bytes = [UInt8](data), offset = 0, records: [[UInt8]] = []
        func u32(_ at: Int) -> UInt32 { bytes[at..<(at + 4)].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<(offset + 8)])
            let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            #expect(u32(offset + 8) == CRC32C.masked(lengthBytes))
            let payload = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            #expect(u32(offset + 12 + length) == CRC32C.masked(payload))
            records.append(payload)
            offset += 16 + length
        }
        bytes.removeAll()
        return records
    }

    /// (step, [tag: value]) of an Event message (fields 2 and 5 → 1 → {1, 2}).
    static func decode(_ message: [UInt8]) -> (step: Int, scalars: [String: Float], version: String?) {
        var step = 0, scalars: [String: Float] = [:], version: String?
        func varint(_ bytes: [UInt8], _ i: inout Int) -> Int {
            var value = 0, shift = 0
            while true { let b = bytes[i]; i += 1; value |= Int(b & 0x7F) << shift; shift += 7; if b < 0x80 { return value } }
        }
        func fields(_ bytes: [UInt8]) -> [(Int, [UInt8], Int)] {  // (field, payload, varint value)
            var i = 0, out: [(Int, [UInt8], Int)] = []
            while i < bytes.count {
                let key = varint(bytes, &i)
                switch key & 7 {
                case 0: out.append((key >> 3, [], varint(bytes, &i)))
                case 1: out.append((key >> 3, Array(bytes[i..<(i + 8)]), 0)); i += 8
                case 5: out.append((key >> 3, Array(bytes[i..<(i + 4)]), 0)); i += 4
                default: let n = varint(bytes, &i); out.append((key >> 3, Array(bytes[i..<(i + n)]), 0)); i += n
                }
            }
            return out
        }
        for (field, payload, value) in fields(message) {
            if field == 2 { step = value }
            if field == 3 { version = String(decoding: payload, as: UTF8.self) }
            if field == 5 {
                for (_, entry, _) in fields(payload) {
                    var tag = "", scalar: Float = .nan
                    for (f, p, _) in fields(entry) {
                        if f == 1 { tag = String(decoding: p, as: UTF8.self) }
                        if f == 2 { scalar = Float(bitPattern: p.enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }) }
                    }
                    scalars[tag] = scalar
                }
            }
        }
        return (step, scalars, version)
    }

    @Test("every logged row becomes an event whose scalars equal the metrics log")
    func eventsMatchTheMetricsLog() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 1e-2, maxSteps: 6, batchSize: 4)
        arguments.handlesInterrupt = false
        arguments.loggingSteps = 2
        arguments.evalSteps = 3
        let data = try TrainingFixture.dataset()
        let board = TensorBoardLog(folder: output.appendingPathComponent("tensorboard"))
        let trainer = try Trainer(model: try TrainingFixture.lora(), arguments: arguments, train: data, eval: data, callbacks: [board])
        try trainer.train()
        let records = try Self.records(Data(contentsOf: try #require(board.file)))
        let events = records.map(Self.decode)
        #expect(events.first?.version == "brain.Event:2")
        let rows = trainer.state.logHistory
        #expect(events.count == rows.count + 1)
        for (event, row) in zip(events.dropFirst(), rows) {
            #expect(event.step == row.step)
            #expect(Set(event.scalars.keys) == Set(row.values.keys.map(TensorBoardLog.tag)))
            for (name, value) in row.values { #expect(event.scalars[TensorBoardLog.tag(name)] == Float(value), "\(name)") }
        }
    }
}
