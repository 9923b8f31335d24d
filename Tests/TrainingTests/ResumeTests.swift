import CSignals
import Foundation
import NN
import PEFT
import Tensors
import Testing
@testable import Training

/// Stops a run after a given step.
final class StopAt: TrainerCallback {
    let step: Int
    init(_ step: Int) { self.step = step }
    func onStepEnd(_ trainer: Trainer) -> TrainerControl { trainer.state.step == step ? .stop : .proceed }
}

/// A model whose saving can be made to fail halfway (a crash during a checkpoint).
final class FailingSaves: TrainableModel {
    let inner: PeftModel<Models.LlamaForCausalLM>
    var failNextSave = false
    init(_ inner: PeftModel<Models.LlamaForCausalLM>) { self.inner = inner }
    var module: Module { inner.module }
    func head() throws -> ModelHead { try inner.head() }
    func trainableParameters() -> [(path: String, parameter: Variable)] { inner.trainableParameters() }
    var prefix: Variable? { nil }
    func withBaseModel<R>(_ body: () throws -> R) throws -> R { try inner.withBaseModel(body) }
    func saveTrained(to folder: URL) throws {
        try inner.saveTrained(to: folder)
        if failNextSave { throw CocoaError(.fileWriteOutOfSpace) }
    }
}

import Models
import Autograd

@Suite struct ResumeTests {
    /// 40 examples, batch 4, accumulation 3: 10 micro-batches and 4 steps per epoch (the last step
    /// of an epoch has one micro-batch). Dropout and shuffling on.
    func arguments(_ output: URL?, steps: Int = 7) -> TrainingArguments {
        var arguments = TrainingArguments(outputDirectory: output?.path, learningRate: 5e-3, maxSteps: steps, batchSize: 4,
                                          gradientAccumulationSteps: 3, seed: 11)
        arguments.loggingSteps = 2
        arguments.handlesInterrupt = false
        arguments.warmupSteps = 2
        arguments.schedule = .cosine
        return arguments
    }

    func adamMoments(_ trainer: Trainer) -> [String: Tensor] { trainer.optimizer.stateDictionary().tensors }

    @Test func resumedRunIsBitIdenticalToAStraightRun() throws {
        let data = try TrainingFixture.dataset()
        let straightModel = try TrainingFixture.lora(dropout: 0.1, seed: 2)
        let straight = try Trainer(model: straightModel, arguments: arguments(nil), train: data)
        try straight.train()

        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        let first = try Trainer(model: try TrainingFixture.lora(dropout: 0.1, seed: 2), arguments: arguments(output), train: data, callbacks: [StopAt(5)])
        try first.train()
        #expect(first.state.step == 5 && first.state.epoch == 1 && first.state.batchCursor == 3, "stopped mid-epoch")
        #expect(Trainer.checkpoints(in: output).map(\.step) == [5])

        // A fresh process: different initial adapter weights, all replaced by the checkpoint.
        let resumedModel = try TrainingFixture.lora(dropout: 0.1, seed: 99)
        let resumed = try Trainer(model: resumedModel, arguments: arguments(output), train: data)
        try resumed.train(resumingFrom: output)
        #expect(resumed.state.step == 7)
        #expect(resumed.state.stepLosses == straight.state.stepLosses, "loss sequence")
        #expect(resumed.snapshotTrainable() == straight.snapshotTrainable(), "adapter weights")
        #expect(adamMoments(resumed) == adamMoments(straight), "optimizer moments")
        #expect(resumed.state.logHistory.map(\.values["loss"]) == straight.state.logHistory.map(\.values["loss"]))
        let dropouts = { (t: Trainer) in t.dropoutLayers.map(\.layer.generator) }
        #expect(dropouts(resumed) == dropouts(straight), "dropout generators")
    }

    @Test("an AdaLoRA run resumed mid-schedule continues bit for bit: its allocator's averages and masks are checkpointed")
    func adaLoRAResumesBitForBit() throws {
        let data = try TrainingFixture.dataset()
        func model(seed: UInt64) throws -> PeftModel<LlamaForCausalLM> {
            try PeftModel(try TrainingFixture.base(), configuration: AdaLoRAConfig(initialRank: 4, targetRank: 2, totalSteps: 7, initialSteps: 1, finalSteps: 2,
                                                                                   targetModules: .names(["q_proj", "v_proj"])), seed: seed)
        }
        let straightModel = try model(seed: 2)
        let straight = try Trainer(model: straightModel, arguments: arguments(nil), train: data)
        try straight.train()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        try Trainer(model: try model(seed: 2), arguments: arguments(output), train: data, callbacks: [StopAt(4)]).train()
        let resumedModel = try model(seed: 99)
        let resumed = try Trainer(model: resumedModel, arguments: arguments(output), train: data)
        try resumed.train(resumingFrom: output)
        #expect(resumed.state.stepLosses == straight.state.stepLosses, "loss sequence")
        #expect(resumed.snapshotTrainable() == straight.snapshotTrainable(), "adapter weights")
        let pattern = { (peft: PeftModel<LlamaForCausalLM>) in (peft.configuration("default") as? AdaLoRAConfig)?.rankPattern?.map { "\($0.module) \($0.kept)" } }
        #expect(pattern(straightModel) != nil && pattern(resumedModel) == pattern(straightModel), "rank pattern")
    }

    @Test func aCrashDuringSaveLeavesThePreviousCheckpointUsable() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        let model = FailingSaves(try TrainingFixture.lora(seed: 2))
        var settings = arguments(output, steps: 6)
        settings.saveSteps = 2
        final class FailAt: TrainerCallback {
            let model: FailingSaves
            init(_ model: FailingSaves) { self.model = model }
            func onStepEnd(_ trainer: Trainer) -> TrainerControl {
                model.failNextSave = trainer.state.step == 4
                return .proceed
            }
        }
        let trainer = try Trainer(model: model, arguments: settings, train: data, callbacks: [FailAt(model)])
        #expect(throws: TrainingError.self) { try trainer.train() }
        #expect(Trainer.checkpoints(in: output).map(\.step) == [2], "the failed save published nothing")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: output.path).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
        // A half-written folder under the final name (a crash between files) is not taken for a checkpoint.
        try FileManager.default.createDirectory(at: output.appendingPathComponent("checkpoint-4"), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: output.appendingPathComponent("checkpoint-4/adapter_config.json"))
        let resumed = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output, steps: 6), train: data)
        try resumed.resume(from: output)
        #expect(resumed.state.step == 2)
    }

    @Test func resumeRefusesACheckpointOfAnotherConfiguration() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output), train: data, callbacks: [StopAt(2)]).train()
        // Another rank: the trainable tensors differ.
        let other = try Trainer(model: try TrainingFixture.lora(rank: 2, seed: 2), arguments: arguments(output), train: data)
        #expect {
            try other.train(resumingFrom: output)
        } throws: { error in
            guard case let .incompatibleCheckpoint(_, reason) = error as? TrainingError else { return false }
            return reason.contains("trainable tensors")
        }
        // Another batch size.
        var changed = arguments(output)
        changed.batchSize = 5
        let batch = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: changed, train: data)
        #expect(throws: TrainingError.self) { try batch.train(resumingFrom: output) }
        // Not a checkpoint at all.
        let empty = TrainingFixture.temporaryFolder()
        #expect {
            try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(nil), train: data).train(resumingFrom: empty)
        } throws: { error in
            if case let .incompatibleCheckpoint(_, reason) = error as? TrainingError { return reason == "no such folder" } else { return false }
        }
        #expect {
            try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(nil), train: data).train(resumingFrom: TrainingFixture.arithmetic)
        } throws: { error in
            if case let .incompatibleCheckpoint(_, reason) = error as? TrainingError { return reason.hasPrefix("it is a file") } else { return false }
        }
    }

    @Test func outputIsNotOverwrittenWithoutPermission() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments(output, steps: 1), train: data).train()
        let saved = try Data(contentsOf: output.appendingPathComponent("adapter_model.safetensors"))
        #expect(throws: TrainingError.outputExists(path: output.path)) {
            try Trainer(model: try TrainingFixture.lora(seed: 3), arguments: arguments(output, steps: 1), train: data).train()
        }
        #expect(try Data(contentsOf: output.appendingPathComponent("adapter_model.safetensors")) == saved)
        var overwrite = arguments(output, steps: 1)
        overwrite.overwriteOutput = true
        try Trainer(model: try TrainingFixture.lora(seed: 3), arguments: overwrite, train: data).train()
    }
}

@Suite struct InterruptTests {
    /// Presses Ctrl-C (sends the process SIGINT) during a step.
    final class PressControlC: TrainerCallback {
        let step: Int
        init(_ step: Int) { self.step = step }
        func onStepEnd(_ trainer: Trainer) -> TrainerControl {
            if trainer.state.step == step {
                kill(getpid(), SIGINT)
                while pk_interrupt_requested() == 0 { usleep(1000) }  // delivered asynchronously, to any thread
            }
            return .proceed
        }
    }

    @Test func controlCStopsAfterTheStepAndSavesACheckpoint() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, maxSteps: 10, batchSize: 4)
        arguments.handlesInterrupt = true
        let trainer = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments, train: data, callbacks: [PressControlC(3)])
        let summary = try trainer.train()
        #expect(summary.interrupted && summary.steps == 3)
        #expect(Trainer.checkpoints(in: output).map(\.step) == [3])
        // Resuming finishes the run.
        var resumedArguments = arguments
        resumedArguments.handlesInterrupt = false
        let resumed = try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: resumedArguments, train: data)
        #expect(try resumed.train(resumingFrom: output).steps == 10)
    }
}

@Suite struct ForeignCheckpointTests {
    /// `resume` must fail with `incompatibleCheckpoint` naming the base model.
    func expectBaseModelRefusal(_ resume: () throws -> TrainingSummary) {
        #expect {
            _ = try resume()
        } throws: { error in
            guard case let .incompatibleCheckpoint(_, reason) = error as? TrainingError else { return false }
            return reason.contains("base model")
        }
    }

    @Test func aCheckpointOfAnotherBaseModelIsRefused() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, maxSteps: 4, batchSize: 4)
        arguments.saveSteps = 2
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments, train: data, callbacks: [StopAt(2)]).train()
        // Same architecture and adapter, different base weights.
        let other = try TrainingFixture.lora(seed: 2)
        let embedding = other.root.namedParameters().first { $0.path.hasSuffix("embed_tokens.weight") }!.parameter
        embedding.value = embedding.value * 1.5
        expectBaseModelRefusal { try Trainer(model: other, arguments: arguments, train: data).train(resumingFrom: output) }
    }

    @Test func aCheckpointOfAQ8BaseDoesNotResumeOnAQ4Base() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        func lora(_ format: QuantizedMatrix.Format) throws -> PeftModel<LlamaForCausalLM> {
            let base = try LlamaForCausalLM.load(folder: TrainingFixture.model, quantization: .quantize(format))
            return try PeftModel(base, configuration: LoRAConfig(rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"]), seed: 2)
        }
        var arguments = TrainingArguments(outputDirectory: output.path, maxSteps: 4, batchSize: 4)
        arguments.saveSteps = 2
        try Trainer(model: try lora(.q8_0), arguments: arguments, train: data, callbacks: [StopAt(2)]).train()
        // The same packed base resumes; another quantization of it is another base.
        #expect(try Trainer(model: try lora(.q8_0), arguments: arguments, train: data).train(resumingFrom: output).steps == 4)
        expectBaseModelRefusal { try Trainer(model: try lora(.q4_1), arguments: arguments, train: data).train(resumingFrom: output) }
    }
}

@Suite struct DamagedCheckpointTests {
    @Test func aCorruptManifestOrTensorFileIsATypedError() throws {
        let data = try TrainingFixture.dataset()
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, maxSteps: 4, batchSize: 4)
        arguments.saveSteps = 2
        try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments, train: data, callbacks: [StopAt(2)]).train()
        let checkpoint = Trainer.checkpoints(in: output).last!.url
        func damaged() -> Bool {
            do {
                try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments, train: data).resume(from: checkpoint)
                return false
            } catch let error as TrainingError {
                if case .damagedCheckpoint = error { return true } else { return false }
            } catch { return false }
        }
        let optimizer = checkpoint.appendingPathComponent("optimizer.safetensors")
        let saved = try Data(contentsOf: optimizer)
        try Data(saved.prefix(20)).write(to: optimizer)
        #expect(damaged(), "a truncated optimizer file")
        try saved.write(to: optimizer)
        try Data("{\"format\": 1, \"state\": ".utf8).write(to: checkpoint.appendingPathComponent("trainer_state.json"))
        #expect(damaged(), "a truncated trainer_state.json")
        // A field of the wrong kind is named by its path, not shown as Swift's DecodingError.
        try Data(#"{"format": 1, "state": {"step": "two"}}"#.utf8).write(to: checkpoint.appendingPathComponent("trainer_state.json"))
        #expect {
            try Trainer(model: try TrainingFixture.lora(seed: 2), arguments: arguments, train: data).resume(from: checkpoint)
        } throws: { error in
            "\(error)".contains("trainer_state.json: 'state.step' is not a number") && !"\(error)".contains("DecodingError")
        }
    }
}
