// Tokenizer benchmark: single-thread encode throughput of PEFTKit's SmolLM2 tokenizer on ~4 MB of
// mixed text, and linear-time behaviour on hostile inputs, with ids checked against Hugging Face
// `tokenizers` (hashes in hostile_reference.json, written by reference.py).
//
//   swift run -c release TokenizerBenchmark
//   python Benchmarks/TokenizerBenchmark/reference.py      # the same measurements with HF tokenizers
// Options: --hostile TEXT (only the hostile inputs whose name contains TEXT, no corpus run)
//          --tokenizer NAME (another fixture folder, e.g. llama3-style; ids are not checked then)
import Dispatch
import Foundation
import Tokenizers

let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let root = here.deletingLastPathComponent().deletingLastPathComponent()
let fixture = root.appendingPathComponent("Tests/TokenizersTests/Fixtures/smollm2")
let pattern = "Lorem_ipsum-dolor.sit,amet;consectetur!adipiscing?elit:sed(do)eiusmod"

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func fnv1a(_ ids: [Int]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for id in ids {
        for shift in stride(from: 0, to: 32, by: 8) {
            hash ^= UInt64((UInt32(truncatingIfNeeded: id) >> UInt32(shift)) & 0xFF)
            hash = hash &* 0x100_0000_01B3
        }
    }
    return String(hash, radix: 16).leftPadding(to: 16)
}

extension String {
    func leftPadding(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

struct Case: Decodable { let text: String }
struct CaseFile: Decodable { let cases: [Case] }

let onlyHostile = CommandLine.arguments.firstIndex(of: "--hostile").map { CommandLine.arguments[$0 + 1] }
// --tokenizer NAME times another fixture tokenizer on the hostile inputs (no reference hashes for it).
let otherTokenizer = CommandLine.arguments.firstIndex(of: "--tokenizer").map { CommandLine.arguments[$0 + 1] }
let tokenizer = try Tokenizer.load(from: otherTokenizer.map { fixture.deletingLastPathComponent().appendingPathComponent($0) } ?? fixture)
let corpus = try JSONDecoder().decode(CaseFile.self, from: Data(contentsOf: fixture.appendingPathComponent("cases.json")))
let block = corpus.cases.map(\.text).joined(separator: "\n") + "\n"
let text = String(repeating: block, count: 4_000_000 / block.utf8.count + 1)
let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
let megabytes = Double(text.utf8.count) / 1e6

// Warm up, then best of three (single thread: lines are encoded one after another).
if onlyHostile == nil {
    _ = try lines.prefix(200).map { try tokenizer.encode($0, addSpecialTokens: false) }
    var best = Double.infinity
    for _ in 0..<3 {
        best = min(best, try seconds { for line in lines { _ = try tokenizer.encode(line, addSpecialTokens: false) } })
    }
    print(String(format: "PEFTKit (1 thread): mixed corpus %.1f MB in %.2f s = %.2f MB/s", megabytes, best, megabytes / best))
}

struct Reference: Decodable { let count: Int; let fnv1a: String }
let references = try JSONDecoder().decode([String: Reference].self,
                                          from: Data(contentsOf: here.appendingPathComponent("hostile_reference.json")))
let hostile: [(String, (Int) -> String, Int)] = [
    ("100k repeated characters", { String(repeating: "a", count: $0) }, 100_000),
    ("1 MB without spaces", { n in String(String(repeating: pattern, count: n / pattern.count + 1).prefix(n)) }, 1_000_000),
    ("100k spaces", { String(repeating: " ", count: $0) }, 100_000),
]
var allMatch = true
for (name, make, size) in hostile where onlyHostile.map({ name.contains($0) }) ?? true {
    // Time at n/4, n/2 and n: linear time means the per-character cost stays flat.
    var perCharacter: [String] = []
    var ids: [Int] = []
    for fraction in [4, 2, 1] {
        let input = make(size / fraction)
        let time = try seconds { ids = try tokenizer.encode(input, addSpecialTokens: false) }
        perCharacter.append(String(format: "%.0f ns/char at %d", time / Double(size / fraction) * 1e9, size / fraction))
    }
    guard otherTokenizer == nil else {
        print("PEFTKit (1 thread): \(name): \(ids.count) ids; \(perCharacter.joined(separator: ", "))")
        continue
    }
    let reference = references[name]
    let match = reference.map { $0.count == ids.count && $0.fnv1a == fnv1a(ids) } ?? false
    allMatch = allMatch && match
    print("PEFTKit (1 thread): \(name): \(ids.count) ids; \(perCharacter.joined(separator: ", ")); ids \(match ? "identical to" : "DIFFER from") tokenizers")
}

// Metaspace + BPE (llama2-style, no pre-tokenizer split): a megabyte of spaces is one giant word for
// the Replace normaliser and BPE. Per-character cost must stay flat.
if onlyHostile == nil || "1 MB of spaces".contains(onlyHostile!) {
    let llama2 = try Tokenizer.load(from: root.appendingPathComponent("Tests/TokenizersTests/Fixtures/llama2-style"))
    var perCharacter: [String] = []
    for size in [250_000, 500_000, 1_000_000] {
        let input = String(repeating: " ", count: size)
        let time = try seconds { _ = try llama2.encode(input, addSpecialTokens: false) }
        perCharacter.append(String(format: "%.0f ns/char at %d", time / Double(size) * 1e9, size))
    }
    print("PEFTKit (1 thread): 1 MB of spaces, Metaspace + BPE (llama2-style): \(perCharacter.joined(separator: ", "))")
}
if !allMatch { exit(1) }
