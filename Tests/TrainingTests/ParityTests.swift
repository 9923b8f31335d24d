import Foundation
import NN
@testable import PEFT
import Models
import Tensors
import Testing
@testable import Training

/// The Trainer against the reference loop in PyTorch + peft (Fixtures/make_training_fixtures.py).
@Suite struct TrainingParityTests {
    @Test func tokenizationMatchesTheReference() throws {
        let expected = try TrainingFixture.expected()
        let dataset = try TrainingFixture.dataset()
        for (index, reference) in expected.examples.enumerated() {
            #expect(dataset.examples[index].ids == reference.ids, "record \(index + 1) ids")
            #expect(dataset.examples[index].labels == reference.labels, "record \(index + 1) labels")
        }
    }

    /// Four steps of the reference loop's settings (make_training_fixtures.py, make_method_parity.py).
    static func referenceRun(_ peft: PeftModel<LlamaForCausalLM>, records: Int) throws -> Trainer {
        var data = try TrainingFixture.dataset()
        data.examples = Array(data.examples.prefix(records))
        var arguments = TrainingArguments(learningRate: 1e-2, maxSteps: 4, batchSize: 3, gradientAccumulationSteps: 2, seed: 5)
        arguments.weightDecay = 0.01
        arguments.warmupSteps = 1
        arguments.schedule = .linear
        arguments.maxGradientNorm = 1
        arguments.handlesInterrupt = false
        let trainer = try Trainer(model: peft, arguments: arguments, train: data)
        try trainer.train()
        return trainer
    }

    @Test func adamWStepsMatchPyTorchAndPEFT() throws {
        let expected = try TrainingFixture.expected()
        let peft = try PeftModel.load(try TrainingFixture.base(), adapter: TrainingFixture.parity.appendingPathComponent("initial"), isTrainable: true)
        let trainer = try Self.referenceRun(peft, records: expected.records)
        #expect(trainer.state.stepLosses.count == 4)
        for (ours, theirs) in zip(trainer.state.stepLosses, expected.losses) {
            #expect(abs(ours - theirs) < 2e-5, "loss \(ours) vs PyTorch \(theirs)")
        }
        let final = try PeftModel<LlamaForCausalLM>.readWeights(TrainingFixture.parity.appendingPathComponent("final"))
        let ours = Dictionary(uniqueKeysWithValues: try peft.adapterStateDictionary().map { ($0.key, $0.parameter.value) })
        #expect(Set(ours.keys) == Set(final.keys))
        var worst: Float = 0
        for (key, value) in final { worst = max(worst, zip(value.toArray(), ours[key]!.toArray()).map { abs($0 - $1) }.max() ?? 0) }
        #expect(worst < 1e-5, "largest adapter difference \(worst)")
        print("parity: losses", trainer.state.stepLosses, "vs", expected.losses, "worst adapter difference", worst)
    }

    /// The methods with a parity fixture (Fixtures/make_method_parity.py).
    static let methods = ((try? FileManager.default.contentsOfDirectory(atPath: TrainingFixture.here.appendingPathComponent("methods").path)) ?? [])
        .filter { !$0.hasPrefix(".") }.sorted()

    @Test("four AdamW steps of each method from peft's adapter follow PyTorch + peft's losses and final weights", arguments: methods)
    func methodStepsMatchPyTorchAndPEFT(_ method: String) throws {
        let folder = TrainingFixture.here.appendingPathComponent("methods").appendingPathComponent(method)
        let expected = try JSONDecoder().decode(TrainingFixture.MethodExpected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
        let peft = try PeftModel.load(try TrainingFixture.base(), adapter: folder.appendingPathComponent("initial"), isTrainable: true)
        let trainer = try Self.referenceRun(peft, records: expected.records)
        #expect(trainer.state.stepLosses.count == 4)
        for (ours, theirs) in zip(trainer.state.stepLosses, expected.losses) {
            #expect(abs(ours - theirs) < 2e-5, "\(method): loss \(ours) vs PyTorch \(theirs)")
        }
        // The adapters as saved (AdaLoRA saves only the ranks it kept): same keys, shapes, values.
        let saved = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: saved) }
        try peft.saveAdapter(to: saved)
        let final = try PeftModel<LlamaForCausalLM>.readWeights(folder.appendingPathComponent("final"))
        let ours = try PeftModel<LlamaForCausalLM>.readWeights(saved)
        #expect(Set(ours.keys) == Set(final.keys))
        var worst: Float = 0
        for (key, value) in final {
            guard let mine = ours[key], mine.shape == value.shape else { Issue.record("\(method): '\(key)' \(ours[key]?.shape ?? []) vs \(value.shape)"); continue }
            worst = max(worst, zip(value.toArray(), mine.toArray()).map { abs($0 - $1) }.max() ?? 0)
        }
        #expect(worst < 1e-5, "\(method): largest adapter difference \(worst)")
        // What the method learned about itself (AdaLoRA's rank pattern) is saved as peft saves it.
        let theirs = try AdapterConfigurations.load(from: folder.appendingPathComponent("final")).json["rank_pattern"]
        #expect(try AdapterConfigurations.load(from: saved).json["rank_pattern"] == theirs, "\(method): rank_pattern")
        print("parity \(method): losses", trainer.state.stepLosses, "vs", expected.losses, "worst adapter difference", worst)
    }
}
