import Foundation
#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) @testable import ModelIO
import Testing

@Suite("Atomic writes, reading inputs, SHA-256")
struct AtomicFileTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("SHA-256 gives FIPS 180-4's digests, whole or in pieces")
    func sha256KnownAnswers() throws {
        #expect(SHA256.hexDigest(of: Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(of: Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let twoBlocks = Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(SHA256.hexDigest(of: twoBlocks) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var pieces = SHA256()
        for piece in stride(from: 0, to: 1_000_000, by: 999) { pieces.update(Data(repeating: 0x61, count: min(999, 1_000_000 - piece))) }
        #expect(pieces.finalize().map { String(format: "%02x", $0) }.joined() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let url = try folder().appendingPathComponent("abc")
        try Data("abc".utf8).write(to: url)
        #expect(try SHA256.hexDigest(ofFileAt: url) == SHA256.hexDigest(of: Data("abc".utf8)))
    }

    @Test("a replaced file keeps its permissions; a symbolic link is written through and stays a link")
    func permissionsAndLinks() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("private.json")
        try Data("old".utf8).write(to: file)
        chmod(file.path, 0o600)
        try AtomicFile.write(Data("new".utf8), to: file)
        #expect(try String(contentsOf: file, encoding: .utf8) == "new")
        #expect((try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int) == 0o600)

        let link = root.appendingPathComponent("link.json")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "private.json")
        try AtomicFile.write(Data("through the link".utf8), to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == "private.json", "the link stays")
        #expect(try String(contentsOf: file, encoding: .utf8) == "through the link")
        #expect(throws: ModelFileError.self) { try AtomicFile.write(Data(), to: root) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["link.json", "private.json"], "no temporary left")
    }

    @Test("a FIFO is written through and stays a FIFO")
    func fifoWriteThrough() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let fifo = root.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let reader = open(fifo.path, O_RDONLY | O_NONBLOCK)  // so the writer's open does not wait
        defer { close(reader) }
        try AtomicFile.write(Data("to the reader\n".utf8), to: fifo)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(reader, &buffer, 64)
        #expect(String(decoding: buffer.prefix(max(0, count)), as: UTF8.self) == "to the reader\n")
        var info = stat()
        #expect(lstat(fifo.path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
    }

    @Test("the process's own descriptors (/dev/fd/N) are written at their offset, never replaced")
    func ownDescriptors() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("redirected.txt")
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { close(descriptor) }
        #expect(write(descriptor, "head\n", 5) == 5)
        try AtomicFile.write(Data("answers\n".utf8), to: URL(fileURLWithPath: "/dev/fd/\(descriptor)"))
        #expect(write(descriptor, "tail\n", 5) == 5)
        #expect(try String(contentsOf: file, encoding: .utf8) == "head\nanswers\ntail\n", "one file, written in order")
        #expect(AtomicFile.ownDescriptor("/dev/stdout") == 1 && AtomicFile.ownDescriptor("/proc/self/fd/7") == 7 && AtomicFile.ownDescriptor("/dev/null") == nil)
    }

    @Test("an injected full disk names the file and leaves every file of a group as it was")
    func faultsLeaveOldFiles() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let first = root.appendingPathComponent("a.safetensors"), second = root.appendingPathComponent("b.json")
        try AtomicFile.writeAll([(Data("old a".utf8), first), (Data("old b".utf8), second)])
        #expect {
            try WriteFaults.injecting(ENOSPC, under: root, named: "b.json", afterBytes: 2) {
                try AtomicFile.writeAll([(Data("new a".utf8), first), (Data("new b".utf8), second)])
            }
        } throws: { error in
            guard case let .unwritable(path, reason) = error as? ModelFileError else { return false }
            return path == second.path && reason == String(cString: strerror(ENOSPC))
        }
        #expect(try String(contentsOf: first, encoding: .utf8) == "old a" && String(contentsOf: second, encoding: .utf8) == "old b")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).count == 2, "no temporary left")

        let log = root.appendingPathComponent("log.jsonl")
        try AtomicFile.append(Data("{\"step\": 1}\n".utf8), to: log)
        #expect(throws: ModelFileError.self) {
            try WriteFaults.injecting(EIO, under: root, afterBytes: 5) { try AtomicFile.append(Data("{\"step\": 2}\n".utf8), to: log) }
        }
        #expect(try String(contentsOf: log, encoding: .utf8) == "{\"step\": 1}\n", "the partial line was cut away")
        // Faults are scoped to their folder.
        let other = try folder()
        defer { try? FileManager.default.removeItem(at: other) }
        try WriteFaults.injecting(EIO, under: root) { try AtomicFile.write(Data("fine".utf8), to: other.appendingPathComponent("x")) }
    }

    @Test("reading a folder, a missing file or an oversized file says so in words")
    func inputFileReasons() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        func reason(_ body: () throws -> Data) -> String? {
            do { _ = try body(); return nil } catch let ModelFileError.unreadable(_, reason) { return reason } catch { return "\(error)" }
        }
        #expect(reason { try InputFile.read(root) } == "it is a folder, not a file")
        #expect(reason { try InputFile.read(root.appendingPathComponent("missing")) } == "no such file")
        try Data(count: 10).write(to: root.appendingPathComponent("ten"))
        #expect(reason { try InputFile.read(root.appendingPathComponent("ten"), maximumBytes: 9) }?.contains("exceeds the 9-byte limit") == true)
    }
}
