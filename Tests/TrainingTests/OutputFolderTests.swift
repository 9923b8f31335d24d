import Foundation
#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) import ModelIO
import Autograd
import Models
import Testing
@testable import Training

/// What a run leaves in its output folder when it is killed, damaged or out of disk (issue 24,
/// items 9, 11, 12 and 13).
@Suite struct OutputFolderTests {
    func arguments(_ output: URL, steps: Int = 4) -> TrainingArguments {
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 5e-3, maxSteps: steps, batchSize: 4, seed: 3)
        arguments.saveSteps = 2
        arguments.handlesInterrupt = false
        return arguments
    }

    func damagedReason(_ output: URL, _ checkpoint: URL) throws -> String? {
        do {
            try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output), train: try TrainingFixture.dataset()).resume(from: checkpoint)
            return nil
        } catch let TrainingError.damagedCheckpoint(_, reason) { return reason }
    }

    @Test("a checkpoint records each file's SHA-256; one flipped byte is refused naming the file")
    func checksums() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output), train: try TrainingFixture.dataset()).train()
        let checkpoint = output.appendingPathComponent("checkpoint-4")
        let manifest = try JSONValue.parse(Data(contentsOf: checkpoint.appendingPathComponent("trainer_state.json")))
        let files = try #require(manifest["files"]?.members)
        #expect(Set(files.map(\.0)) == ["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainable.safetensors"])
        let trainable = checkpoint.appendingPathComponent("trainable.safetensors")
        #expect(files.first { $0.0 == "trainable.safetensors" }?.1.string == (try SHA256.hexDigest(ofFileAt: trainable)))
        #expect(try damagedReason(output, checkpoint) == nil, "intact")

        var bytes = try Data(contentsOf: trainable)
        bytes[bytes.count - 3] ^= 0x01  // a weight's low bit: still a valid file
        try bytes.write(to: trainable)
        let reason = try damagedReason(output, checkpoint)
        #expect(reason?.hasPrefix("trainable.safetensors does not match the SHA-256") == true, "\(reason ?? "accepted")")
        #expect(reason?.contains("checkpoint-2") == true, "points at the older checkpoint")
        try FileManager.default.removeItem(at: checkpoint.appendingPathComponent("optimizer.safetensors"))
        #expect(try damagedReason(output, checkpoint)?.contains("is missing") == true)
    }

    @Test("rotation retires a checkpoint under a hidden name first; a new run removes PEFTKit's leftovers and nothing else")
    func leftoversAreCleaned() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var settings = arguments(output, steps: 6)
        settings.saveSteps = 1
        settings.saveTotalLimit = 2
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: settings, train: try TrainingFixture.dataset(), callbacks: [StopAt(5)]).train()
        var names = try FileManager.default.contentsOfDirectory(atPath: output.path)
        #expect(names.filter { $0.hasPrefix("checkpoint-") }.sorted() == ["checkpoint-4", "checkpoint-5"])
        #expect(!names.contains { $0.hasPrefix(".") }, "\(names)")
        // What kills leave behind, and files that are not PEFTKit's.
        let id = UUID().uuidString
        let leftovers = [".adapter_model.safetensors.\(id).tmp", ".checkpoint-6.partial-\(id)", ".checkpoint-3.retired-\(id)", ".checkpoint-5.replaced-\(id)"]
        for name in leftovers { try FileManager.default.createDirectory(at: output.appendingPathComponent(name), withIntermediateDirectories: true) }
        let foreign = [".notes", "draft.tmp", ".cache.tmp"]
        for name in foreign { try Data().write(to: output.appendingPathComponent(name)) }
        for name in leftovers { #expect(OutputFolder.isLeftover(name), "\(name)") }
        for name in foreign { #expect(!OutputFolder.isLeftover(name), "\(name)") }
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: settings, train: try TrainingFixture.dataset()).train(resumingFrom: output)
        names = try FileManager.default.contentsOfDirectory(atPath: output.path)
        for name in leftovers { #expect(!names.contains(name), "\(name) removed") }
        for name in foreign { #expect(names.contains(name), "\(name) kept") }
    }

    @Test("an output folder holding only the metrics of a run killed before its first checkpoint is reused; the old metrics move aside")
    func metricsOnlyFolder() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try Data("{\"step\": 1, \"loss\": 9}\n".utf8).write(to: output.appendingPathComponent("metrics.jsonl"))
        try Data("step,epoch,loss\n1,0.1,9\n".utf8).write(to: output.appendingPathComponent("metrics.csv"))
        let trainer = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output, steps: 1), train: try TrainingFixture.dataset(),
                                  callbacks: [MetricsLog(url: output.appendingPathComponent("metrics.jsonl"))])
        try trainer.train()
        let names = try FileManager.default.contentsOfDirectory(atPath: output.path)
        let aside = try #require(names.first { $0.hasPrefix("metrics.before-") && $0.hasSuffix(".jsonl") })
        #expect(try String(contentsOf: output.appendingPathComponent(aside), encoding: .utf8) == "{\"step\": 1, \"loss\": 9}\n")
        #expect(names.contains { $0.hasPrefix("metrics.before-") && $0.hasSuffix(".csv") })
        #expect(!(try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8)).contains("\"loss\": 9"))
    }

    @Test("a full disk while writing a checkpoint names the file; earlier checkpoints stay, nothing partial is left")
    func checkpointWriteFault() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        let trainer = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output), train: try TrainingFixture.dataset(), callbacks: [StopAt(3)])
        try trainer.train()  // checkpoint-2, then the stop's checkpoint-3
        #expect(Trainer.checkpoints(in: output).map(\.step) == [2, 3])
        let resumed = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output), train: try TrainingFixture.dataset())
        #expect {
            try WriteFaults.injecting(ENOSPC, under: output, named: "optimizer.safetensors", afterBytes: 100) { try resumed.train(resumingFrom: output) }
        } throws: { error in
            guard case let .file(path, reason) = error as? TrainingError else { return false }
            return path.hasSuffix("checkpoint-4") && reason.contains("checkpoint-4/optimizer.safetensors") && reason.contains(String(cString: strerror(ENOSPC)))
        }
        #expect(Trainer.checkpoints(in: output).map(\.step) == [2, 3])
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.hasPrefix(".") }.isEmpty)
        #expect(try damagedReason(output, output.appendingPathComponent("checkpoint-3")) == nil)
    }

    @Test("an I/O error writing the final adapter leaves the previous adapter whole; a metrics log that cannot be written stops the run naming it")
    func adapterAndMetricsWriteFaults() throws {
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var settings = arguments(output, steps: 1)
        settings.saveSteps = nil
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: settings, train: try TrainingFixture.dataset()).train()
        let adapter = try Data(contentsOf: output.appendingPathComponent("adapter_model.safetensors"))
        let config = try Data(contentsOf: output.appendingPathComponent("adapter_config.json"))
        settings.overwriteOutput = true
        settings.maxSteps = 2
        #expect {
            try WriteFaults.injecting(EIO, under: output, named: "adapter_config.json") {
                try Trainer(model: try TrainingFixture.lora(rank: 2, seed: 5), arguments: settings, train: try TrainingFixture.dataset()).train()
            }
        } throws: { error in "\(error)".contains("adapter_config.json") && "\(error)".contains(String(cString: strerror(EIO))) }
        #expect(try Data(contentsOf: output.appendingPathComponent("adapter_model.safetensors")) == adapter, "weights unchanged")
        #expect(try Data(contentsOf: output.appendingPathComponent("adapter_config.json")) == config, "configuration unchanged")

        let log = output.appendingPathComponent("metrics.jsonl")
        settings.maxSteps = 6
        settings.loggingSteps = 1
        #expect {
            try WriteFaults.injecting(ENOSPC, under: output, named: "metrics.jsonl", afterBytes: 7) {
                try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: settings, train: try TrainingFixture.dataset(), callbacks: [MetricsLog(url: log)]).train()
            }
        } throws: { error in
            guard case let .callbackFailed(reason) = error as? TrainingError else { return false }
            return reason.contains(log.path) && reason.contains(String(cString: strerror(ENOSPC)))
        }
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), "whole lines only: \(text)")
    }
}

/// The memory check before a run (issue 24, item 1).
@Suite struct MemoryCheckTests {
    @Test("a run predicted beyond the machine's memory is refused before its first step, naming the parts")
    func refusal() throws {
        let data = try TrainingFixture.dataset()
        var arguments = TrainingArguments(maxSteps: 1, batchSize: 8)
        arguments.handlesInterrupt = false
        let model = try TrainingFixture.lora()
        let small = TrainingMemory.predicted(for: model.module, dataset: data, arguments: arguments, attachedTrainable: model.trainableParameterCount)
        #expect(small.total < 200 << 20 && small.activations > 0 && small.trainable == 12 * model.trainableParameterCount)
        #expect(throws: Never.self) { try small.requireFits(limit: 1 << 40) }
        #expect(throws: TrainingError.insufficientMemory(needed: small.total, limit: 1_000, breakdown: small.breakdown)) { try small.requireFits(limit: 1_000) }
        // Rows packed to 65,536 tokens with the whole-matrix attention (tiling off): its probabilities
        // alone need a terabyte.
        arguments.packing = true
        arguments.packedRowLength = 65_536
        let trainer = try Trainer(model: model, arguments: arguments, train: data)
        #expect {
            try TiledAttention.$use.withValue(.never) { try trainer.train() }
        } throws: { error in
            guard case let .insufficientMemory(needed, limit, breakdown) = error as? TrainingError else { return false }
            return needed > limit && breakdown.contains("activations") && "\(error)".contains("at its peak")
        }
        #expect(trainer.state.step == 0)
        // Gradient checkpointing keeps each layer's input and one layer's activations (of 2 layers here).
        arguments.gradientCheckpointing = true
        let checkpointed = TrainingMemory.predicted(for: model.module, dataset: data, arguments: arguments)
        arguments.gradientCheckpointing = false
        let full = TrainingMemory.predicted(for: model.module, dataset: data, arguments: arguments)
        #expect(checkpointed.activations < full.activations && checkpointed.activations > full.activations / 2)
    }
}
