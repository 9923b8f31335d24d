import Foundation
import Synchronization
import Tokenizers
import Testing
@testable import Training

@Suite struct DatasetTests {
    let tokenizer: Tokenizer
    init() throws { tokenizer = try TrainingFixture.tokenizer() }

    func load(_ text: String, name: String = "data.jsonl", format: DatasetFormat = .automatic, prompt: PromptFormat = .chatTemplate,
              maxLength: Int = 64, labels: [String]? = nil) throws -> TrainingDataset {
        let url = try TrainingFixture.file(name, text)
        defer { try? FileManager.default.removeItem(at: url.deletingLastPathComponent()) }
        return try TrainingDataset.load(url, tokenizer: tokenizer, format: format, prompt: prompt, maxLength: maxLength, labels: labels)
    }

    func trainedText(_ example: TokenizedExample) throws -> String {
        try tokenizer.decode(example.labels.filter { $0 != TokenizedExample.ignoreIndex })
    }

    @Test func promptResponseTrainsTheAnswerAndItsEndOfTurn() throws {
        let data = try load(#"{"prompt": "What is 2 plus 2?", "response": "4"}"#)
        let example = data.examples[0]
        #expect(try tokenizer.decode(example.ids) == "<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n")
        #expect(try trainedText(example) == "4<|im_end|>")
        #expect(try tokenizer.decode(Array(example.ids.prefix(example.promptLength))) == "<|im_start|>user\nWhat is 2 plus 2?<|im_end|>\n<|im_start|>assistant\n")
        #expect(example.reference == "4")
    }

    @Test("a key given twice in a record means its last value, as Python's json reads the file")
    func duplicateKeysTakeTheLastValue() throws {
        let data = try load(#"{"prompt": "What is 1 plus 1?", "response": "3", "prompt": "What is 2 plus 2?", "response": "4"}"#)
        let example = data.examples[0]
        #expect(try tokenizer.decode(example.ids).contains("What is 2 plus 2?"))
        #expect(example.reference == "4")
    }

    @Test func alpacaChatCompletionAndTextFormats() throws {
        let alpaca = try load(#"[{"instruction": "Add", "input": "2 and 3", "output": "5"}]"#, name: "a.json")
        #expect(try tokenizer.decode(alpaca.examples[0].ids).contains("Add\n\n2 and 3"))
        #expect(try trainedText(alpaca.examples[0]) == "5<|im_end|>")

        let chat = try load(#"{"system": "Be brief.", "messages": [{"role": "user", "content": "1 plus 1?"}, {"role": "assistant", "content": "2"}, {"role": "user", "content": "and 2 plus 2?"}, {"role": "assistant", "content": "4"}]}"#)
        #expect(try trainedText(chat.examples[0]) == "2<|im_end|>4<|im_end|>", "every assistant turn trains")
        #expect(try tokenizer.decode(chat.examples[0].ids).hasPrefix("<|im_start|>system\nBe brief.<|im_end|>"))
        #expect(chat.examples[0].reference == "4")

        let completion = try load(#"{"prompt": "3 plus 4 is", "completion": " 7"}"#)
        #expect(try trainedText(completion.examples[0]) == " 7<|im_end|>", "raw text, the eos token ends it")
        #expect(!(try tokenizer.decode(completion.examples[0].ids).contains("<|im_start|>user")))

        let text = try load(#"{"text": "plus plus"}"#)
        #expect(text.examples[0].labels == text.examples[0].ids)
    }

    @Test func plainAndCustomFormats() throws {
        let plain = try load(#"{"prompt": "2 plus 2?", "response": "4"}"#, prompt: .plain)
        #expect(try tokenizer.decode(plain.examples[0].ids) == "### Instruction:\n2 plus 2?\n\n### Response:\n4<|im_end|>")
        #expect(try trainedText(plain.examples[0]) == "4<|im_end|>")
        let custom = try load(#"{"prompt": "2 plus 2?", "response": "4"}"#, prompt: .custom { record in
            guard case let .instruction(prompt, response, _) = record else { return [] }
            return [TextSegment("Q: " + prompt + " A:", trained: false), TextSegment(" " + response, trained: true)]
        })
        #expect(try trainedText(custom.examples[0]) == " 4")
    }

    @Test func classificationLabelsByNameAndIndex() throws {
        let named = try load("{\"text\": \"plus\", \"label\": \"b\"}\n{\"text\": \"is\", \"label\": \"a\"}\n")
        #expect(named.task == .classification(labels: ["a", "b"]))
        #expect(named.examples.map(\.classLabel) == [1, 0])
        let indexed = try load("{\"text\": \"plus\", \"label\": 2}\n{\"text\": \"is\", \"label\": 0}\n")
        #expect(indexed.task == .classification(labels: ["0", "1", "2"]))
        #expect {
            try load("{\"text\": \"plus\", \"label\": \"c\"}\n", labels: ["a", "b"])
        } throws: { error in
            (error as? DatasetError).map { if case let .unknownLabel(_, line, label, _) = $0 { line == 1 && label == "c" } else { false } } ?? false
        }
        #expect(throws: DatasetError.self) { try load("{\"text\": \"plus\", \"label\": 1.5}\n") }
    }

    @Test func truncationIsCountedAndExamplesWithoutAnswersAreDropped() throws {
        let long = String(repeating: "plus ", count: 40)
        let text = "{\"prompt\": \"\(long)\", \"response\": \"4\"}\n{\"prompt\": \"1 plus 1?\", \"response\": \"2\"}\n"
        let data = try load(text, maxLength: 30)
        #expect(data.count == 1 && data.statistics.truncated == 1 && data.statistics.droppedWithoutTargets == 1)
        #expect(data.statistics.summary.contains("1 dropped"))
        #expect {
            try load("{\"prompt\": \"\(long)\", \"response\": \"4\"}\n", maxLength: 30)
        } throws: { error in
            if case .empty = error as? DatasetError { true } else { false }
        }
    }

    @Test func badRecordsNameTheLineAndTheReason() throws {
        func failure(_ text: String, name: String = "bad.jsonl") -> DatasetError? {
            do { _ = try load(text, name: name); return nil } catch { return error as? DatasetError }
        }
        let malformed = failure("{\"prompt\": \"a\", \"response\": \"b\"}\n\n{\"prompt\": \"a\", \"response\": }\n")
        guard case let .malformed(_, line, _) = malformed else { Issue.record("expected malformed, got \(String(describing: malformed))"); return }
        #expect(line == 3)
        #expect(malformed!.description.contains("bad.jsonl:3"))
        guard case let .invalidField(_, 2, field, _) = failure("{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\"}\n") else {
            Issue.record("missing field"); return
        }
        #expect(field == "response")
        guard case .invalidField(_, 1, "response", _) = failure("{\"prompt\": \"a\", \"response\": 3}\n") else { Issue.record("wrong type"); return }
        guard case .unknownFormat(_, 1, _) = failure("{\"question\": \"a\"}\n") else { Issue.record("unknown format"); return }
        guard case .empty = failure("\n\n") else { Issue.record("empty"); return }
        guard case .empty = failure("[]", name: "empty.json") else { Issue.record("empty array"); return }
        guard case .malformed(_, 1, _) = failure("[1, 2]", name: "numbers.json") else { Issue.record("not objects"); return }
        guard case .invalidField(_, 1, "messages", _) = failure("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n") else {
            Issue.record("no assistant turn"); return
        }
        guard case .invalidField(_, 1, "messages[0].role", _) = failure("{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}\n") else {
            Issue.record("bad role"); return
        }
        guard case .invalidField(_, 2, "label", _) = failure("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n") else { Issue.record("format changes mid-file"); return }
        let missing = URL(fileURLWithPath: "/nonexistent/data.jsonl")
        #expect(throws: DatasetError.self) { try TrainingDataset.load(missing, tokenizer: tokenizer) }
    }

    @Test("preparation on every core keeps file order, reports progress to the total, and names the earliest bad line")
    func parallelPreparation() throws {
        let lines = (1...3000).map { #"{"prompt": "What is \#($0) plus 1?", "response": "\#($0 + 1)"}"# }
        let url = try TrainingFixture.file("many.jsonl", lines.joined(separator: "\n") + "\n")
        let seen = Mutex<[Int]>([])
        let data = try TrainingDataset.load(url, tokenizer: tokenizer, progress: { done, total in
            #expect(total == 3000)
            seen.withLock { $0.append(done) }
        })
        #expect(data.examples.map(\.line) == Array(1...3000))
        #expect(data.examples[2999].reference == "3001")
        #expect(seen.withLock { $0.max() } == 3000)
        let one = try load(lines[1234])
        #expect(data.examples[1234].ids == one.examples[0].ids && data.examples[1234].labels == one.examples[0].labels)
        // Unknown labels at lines 2900 and 1500 (classification against given labels): the earlier is named.
        var records = (1...3000).map { #"{"text": "sample \#($0)", "label": "\#($0 % 2 == 0 ? "even" : "odd")"}"# }
        records[2899] = #"{"text": "late", "label": "zzz"}"#
        records[1499] = #"{"text": "early", "label": "yyy"}"#
        let bad = try TrainingFixture.file("labels.jsonl", records.joined(separator: "\n") + "\n")
        #expect {
            try TrainingDataset.load(bad, tokenizer: tokenizer, labels: ["even", "odd"])
        } throws: { error in
            guard case let .unknownLabel(_, line, label, _) = error as? DatasetError else { return false }
            return line == 1500 && label == "yyy"
        }
    }

    @Test("replay mixing: the share is the fraction asked, drawn in a seeded order cycling through the replay set")
    func replayMixing() throws {
        let task = try load((1...30).map { "{\"prompt\": \"q\($0)\", \"response\": \"a\($0)\"}" }.joined(separator: "\n"))
        let replay = try load((1...4).map { "{\"prompt\": \"general \($0)\", \"response\": \"g\($0)\"}" }.joined(separator: "\n"), name: "general.jsonl")
        let mixed = try task.mixing(replay, fraction: 0.25, seed: 3)
        #expect(mixed.count == 40 && mixed.statistics.records == 40, "10 replay examples make a quarter")
        #expect(Set(mixed.examples.suffix(10).compactMap(\.reference)) == ["g1", "g2", "g3", "g4"], "cycled through every replay example")
        #expect(try task.mixing(replay, fraction: 0.25, seed: 3).examples == mixed.examples)
        #expect(mixed.source.hasSuffix("+ 25 % \(replay.source)"))
        #expect(throws: TrainingError.self) { try task.mixing(replay, fraction: 0.95) }
        #expect(throws: TrainingError.self) { try task.mixing(replay, fraction: 0) }
    }

    @Test("messages name the real cause: empty records, null fields, mixed labels at their line, a folder, a byte-order mark")
    func messagesNameTheRealCause() throws {
        func message(_ text: String, name: String = "data.jsonl") -> String {
            do { _ = try load(text, name: name); return "loaded" } catch { return "\(error)" }
        }
        let empty = message("{\"text\": \"\"}\n{\"text\": \"\"}\n")
        #expect(empty.contains("every one of the 2 records is empty") && empty.contains("line 1") && !empty.contains("truncation"), "\(empty)")
        let someEmpty = try load("{\"text\": \"\"}\n{\"text\": \"two plus two\"}\n", name: "some.jsonl")
        #expect(someEmpty.count == 1 && someEmpty.statistics.summary.contains("1 empty records skipped (the first at line 1)"))
        #expect(message("{\"prompt\": null, \"response\": \"b\"}\n").contains("field 'prompt' is null"))
        let mixed = message("{\"text\": \"a\", \"label\": 1}\n{\"text\": \"b\", \"label\": 0}\n{\"text\": \"c\", \"label\": \"x\"}\n")
        #expect(mixed.contains("data.jsonl:3: field 'label' is a name but line 1 has an integer"), "\(mixed)")
        #expect(message("{\"text\": \"a\", \"label\": 100000}\n{\"text\": \"b\", \"label\": 0}\n").contains("data.jsonl:1: field 'label'"))
        #expect(message("\u{FEFF}{\"prompt\": \"a\", \"response\": \"b\"}\n") == "loaded", "a UTF-8 byte-order mark is skipped")
        let folder = FileManager.default.temporaryDirectory
        #expect(throws: DatasetError.unreadable(path: folder.path, reason: "it is a folder, not a file")) { try TrainingDataset.load(folder, tokenizer: tokenizer) }
        // A record too large for the chat template's limits names the data file's line, not the template's.
        let huge = message("{\"prompt\": \"hi\", \"response\": \"x\"}\n{\"prompt\": \"\(String(repeating: "a", count: 17 << 20))\", \"response\": \"y\"}\n")
        #expect(huge.contains("data.jsonl:2: cannot format the record: the record is too large to format"), "\(huge.prefix(300))")
    }

    @Test func samplerIsDeterministicGroupsByLengthAndCoversEveryExample() {
        let lengths = (0..<103).map { ($0 * 37) % 50 + 1 }
        let sampler = BatchSampler(batchSize: 4, seed: 3)
        let epoch0 = sampler.batches(lengths: lengths, epoch: 0)
        #expect(epoch0 == sampler.batches(lengths: lengths, epoch: 0))
        #expect(epoch0 != sampler.batches(lengths: lengths, epoch: 1))
        #expect(epoch0.flatMap { $0 }.sorted() == Array(0..<103))
        #expect(epoch0.count == 26 && epoch0.last!.count == 3)
        // Within a mega-batch the lengths never increase.
        let flat = epoch0.flatMap { $0 }
        for start in stride(from: 0, to: flat.count, by: 200) {
            let chunk = flat[start..<min(start + 200, flat.count)].map { lengths[$0] }
            #expect(chunk == chunk.sorted(by: >))
        }
        let plain = BatchSampler(batchSize: 4, shuffle: false, groupByLength: false)
        #expect(plain.batches(lengths: lengths, epoch: 5).flatMap { $0 } == Array(0..<103))
    }

    @Test func batchesPadOnTheRightWithoutLabels() {
        let a = TokenizedExample(ids: [5, 6, 7], labels: [-100, 6, 7])
        let b = TokenizedExample(ids: [8], labels: [8])
        let batch = Batch([a, b], padID: 0)
        #expect(batch.ids == [5, 6, 7, 8, 0, 0] && batch.keyMask == [true, true, true, true, false, false])
        #expect(batch.labels == [-100, 6, 7, 8, -100, -100])
        #expect(batch.targetCount == 2 && batch.tokenCount == 4)
    }

    @Test func splitIsSeededAndDisjoint() throws {
        let data = try TrainingFixture.dataset()
        let (train, eval) = try data.split(evalFraction: 0.2, seed: 4)
        #expect(train.count == 32 && eval.count == 8)
        #expect(Set(train.examples.map(\.line)).isDisjoint(with: eval.examples.map(\.line)))
        #expect(try data.split(evalFraction: 0.2, seed: 4).eval.examples == eval.examples)
        #expect(throws: TrainingError.self) { try data.split(evalFraction: 1.5) }
    }
}
