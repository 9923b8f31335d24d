import Autograd
import Foundation
import Models
import NN
import PEFT
import Tensors
import Testing
@testable import Training

/// The forgetting monitor (issue 28): KL(base ‖ model) on retain sets and the evaluation set.
@Suite struct ForgettingTests {
    func retainSet() throws -> TrainingDataset {
        let lines = ["{\"prompt\": \"Name a colour of the sky.\", \"response\": \"Blue.\"}",
                     "{\"prompt\": \"How many legs has a cat?\", \"response\": \"Four.\"}"]
        return try TrainingDataset.load(try TrainingFixture.file("retain.jsonl", lines.joined(separator: "\n") + "\n"), tokenizer: try TrainingFixture.tokenizer())
    }

    func arguments(steps: Int = 6) -> TrainingArguments {
        var arguments = TrainingArguments(learningRate: 2e-2, maxSteps: steps, batchSize: 4, seed: 5)
        arguments.handlesInterrupt = false
        arguments.evalSteps = 3
        return arguments
    }

    /// KL(base ‖ model) at the labelled positions, from whole logits computed here (no chunks).
    func directKL(_ peft: PeftModel<LlamaForCausalLM>, _ dataset: TrainingDataset) throws -> Double {
        var sum = 0.0, count = 0
        try withoutGradients {
            for example in dataset.examples {
                let adapted = try peft.model(example.ids).value
                let base = try peft.withAdaptersDisabled { try peft.model(example.ids).value }
                let vocabulary = adapted.shape[2]
                let q = adapted.toArray(), p = base.toArray()
                for t in 0..<(example.ids.count - 1) where example.labels[t + 1] != TokenizedExample.ignoreIndex {
                    let qRow = Array(q[(t * vocabulary)..<((t + 1) * vocabulary)]).map(Double.init)
                    let pRow = Array(p[(t * vocabulary)..<((t + 1) * vocabulary)]).map(Double.init)
                    let qNorm = log(qRow.map { exp($0) }.reduce(0, +)), pNorm = log(pRow.map { exp($0) }.reduce(0, +))
                    sum += zip(pRow, qRow).reduce(0) { $0 + exp($1.0 - pNorm) * (($1.0 - pNorm) - ($1.1 - qNorm)) }
                    count += 1
                }
            }
        }
        return sum / Double(count)
    }

    @Test("a zero-initialised adapter has KL exactly 0; after training the chunked KL equals the whole-logits one")
    func klFromZero() throws {
        let peft = try TrainingFixture.lora()
        let data = try TrainingFixture.dataset()
        let retain = try retainSet()
        let trainer = try Trainer(model: peft, arguments: arguments(), train: data, eval: data, retain: [("general", retain)])
        let start = try trainer.forgettingMetrics()
        #expect(start["retain_general_kl"] == 0 && start["eval_kl"] == 0, "\(start)")
        try trainer.train()
        let end = try trainer.forgettingMetrics()
        let kl = try #require(end["retain_general_kl"])
        #expect(kl > 1e-4)
        #expect(abs(kl - (try directKL(peft, retain))) < 1e-6 * max(1, kl), "chunked \(kl)")
        #expect(abs(try #require(end["retain_general_loss"]) - (try trainer.evaluate(retain)["eval_loss"]!)) < 1e-5)
        // Every evaluation logged them.
        let logged = trainer.state.logHistory.filter { $0.values["retain_general_kl"] != nil }
        #expect(logged.map(\.step) == [3, 6] && logged.allSatisfy { $0.values["eval_kl"] != nil })
    }

    @Test("retain sets alone make the run evaluate; a plain module's base is its starting weights")
    func retainWithoutEvalAndFullFineTuning() throws {
        let model = try TrainingFixture.base()
        model.freeze()
        model.unfreeze(path: "model.layers.1")
        let trainer = try Trainer(model: TrainableModule(model), arguments: arguments(), train: try TrainingFixture.dataset(), retain: [("general", try retainSet())])
        #expect(try trainer.forgettingMetrics()["retain_general_kl"] == 0)
        try trainer.train()
        #expect(trainer.state.logHistory.filter { ($0.values["retain_general_kl"] ?? 0) > 0 }.map(\.step) == [3, 6])
    }

    @Test("the forgetting guard stops past the budget and puts back the last weights within it")
    func guardRestores() throws {
        let peft = try TrainingFixture.lora()
        let trainer = try Trainer(model: peft, arguments: arguments(steps: 9), train: try TrainingFixture.dataset(), retain: [("general", try retainSet())],
                                  callbacks: [try ForgettingGuard(maximumKL: 1e-12)])
        let start = trainer.snapshotTrainable()
        try trainer.train()
        #expect(trainer.state.step == 3, "stopped at the first evaluation past the budget")
        #expect(trainer.snapshotTrainable() == start, "the starting weights are back")
        #expect(throws: TrainingError.self) { try ForgettingGuard(maximumKL: -1) }
        #expect(throws: TrainingError.self) { try ForgettingGuard(maximumKL: .nan) }
    }

    @Test("retain sets are named once each, hold text, and fit the model")
    func badRetainSets() throws {
        let data = try TrainingFixture.dataset()
        for (sets, fragment) in [([("gen eral", data)], "letters, digits"), ([("a", data), ("a", data)], "used twice")] {
            #expect { try Trainer(model: try TrainingFixture.lora(), arguments: arguments(), train: data, retain: sets) } throws: { "\($0)".contains(fragment) }
        }
        let classes = TrainingDataset(examples: [TokenizedExample(ids: [1, 2], labels: [], classLabel: 0)], task: .classification(labels: ["a"]))
        #expect(throws: TrainingError.self) { try Trainer(model: try TrainingFixture.lora(), arguments: arguments(), train: data, retain: [("c", classes)]) }
    }
}

/// The KL anchor (issue 28, item 2): λ · KL(base ‖ model) added to each step's loss.
@Suite struct KLAnchorTests {
    func arguments(_ anchor: Double?, steps: Int = 8) -> TrainingArguments {
        var arguments = TrainingArguments(learningRate: 3e-2, maxSteps: steps, batchSize: 4, seed: 5)
        arguments.handlesInterrupt = false
        arguments.klAnchor = anchor
        return arguments
    }

    @Test("λ = 0 trains exactly as without; λ > 0 starts identically (KL and its gradient are 0) and adds λ·KL to the loss")
    func anchorLoss() throws {
        let data = try TrainingFixture.dataset()
        let plain = try Trainer(model: try TrainingFixture.lora(), arguments: arguments(nil), train: data)
        try plain.train()
        let zero = try Trainer(model: try TrainingFixture.lora(), arguments: arguments(0), train: data)
        try zero.train()
        #expect(zero.state.stepLosses == plain.state.stepLosses)
        let anchoredModel = try TrainingFixture.lora()
        let anchored = try Trainer(model: anchoredModel, arguments: arguments(2), train: data)
        try anchored.train()
        #expect(anchored.state.stepLosses.first == plain.state.stepLosses.first, "KL is 0 at the base")
        #expect(anchored.state.stepLosses.last != plain.state.stepLosses.last)
        // KL's gradient is 0 at the base too: one step gives the same weights.
        let one = try Trainer(model: try TrainingFixture.lora(), arguments: arguments(nil, steps: 1), train: data)
        let oneAnchored = try Trainer(model: try TrainingFixture.lora(), arguments: arguments(2, steps: 1), train: data)
        try one.train()
        try oneAnchored.train()
        #expect(one.snapshotTrainable() == oneAnchored.snapshotTrainable())

        // On a trained adapter: the anchored loss sum = cross-entropy sum + λ · KL sum (measured separately).
        let batch = Batch(Array(data.examples.prefix(4)))
        guard case let .languageModel(model) = try anchoredModel.head() else { Issue.record("not a language model"); return }
        let (value, crossEntropy) = try withoutGradients {
            (try Objective.lossSum(head: .languageModel(model), prefix: nil, batch: batch, anchor: (2, anchoredModel)).value.scalar,
             try Objective.lossSum(head: .languageModel(model), prefix: nil, batch: batch).value.scalar)
        }
        let measured = try anchored.divergence(on: TrainingDataset(examples: Array(data.examples.prefix(4))))
        #expect(measured.kl > 0)
        let expected = Double(crossEntropy) + 2 * measured.kl * Double(measured.tokens)
        #expect(abs(Double(value) - expected) <= 1e-4 * expected, "\(value) vs \(expected)")
    }

    @Test("a strong anchor keeps the retain KL lower than no anchor at equal steps; bad values are refused")
    func anchorKeepsCloser() throws {
        let data = try TrainingFixture.dataset()
        let retain = try TrainingDataset.load(try TrainingFixture.file("general.jsonl", "{\"prompt\": \"Name a colour of the sky.\", \"response\": \"Blue.\"}\n"),
                                              tokenizer: try TrainingFixture.tokenizer())
        func retainKL(_ anchor: Double?) throws -> Double {
            let trainer = try Trainer(model: try TrainingFixture.lora(), arguments: arguments(anchor, steps: 12), train: data, retain: [("g", retain)])
            try trainer.train()
            return try trainer.forgettingMetrics()["retain_g_kl"]!
        }
        let free = try retainKL(nil), anchored = try retainKL(20)
        #expect(anchored < free, "anchored \(anchored), free \(free)")
        #expect(throws: TrainingError.self) { try Trainer(model: try TrainingFixture.lora(), arguments: arguments(-1), train: data) }
        #expect(throws: TrainingError.self) { try Trainer(model: try TrainingFixture.lora(), arguments: arguments(.nan), train: data) }
    }
}
