import Foundation
import PEFTKit

/// A training data file (JSON array or JSONL, any format) read, formatted with the tiny chat
/// model's ChatML template or the plain template, tokenized, truncated, split and batched.
let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Tests/TrainingTests/Fixtures/tiny-chat-llama")
let tokenizer = try! Tokenizer.load(from: fixture)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Data(bytes: start, count: count)
    guard let selector = bytes.first else { return 0 }
    guard let records = try? DatasetFile.parse(bytes.dropFirst(), path: "fuzz.jsonl") else { return 0 }
    let prompt: PromptFormat = selector & 1 == 0 ? .chatTemplate : .plain
    let maxLength = 2 + Int(selector >> 1) % 64
    guard let data = try? TrainingDataset(records: records, tokenizer: tokenizer, prompt: prompt, maxLength: maxLength) else { return 0 }
    _ = data.fingerprint
    let sampler = BatchSampler(batchSize: 1 + Int(selector) % 5, seed: UInt64(selector))
    for batch in sampler.batches(lengths: data.lengths, epoch: 0) { _ = Batch(batch.map { data.examples[$0] }) }
    if data.count >= 2 { _ = try? data.split(evalFraction: 0.5, seed: 1) }
    return 0
}
