import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
@testable import Training

@Suite struct PackingTests {
    /// Examples packed into one row give the loss they give apart: attention stays inside each
    /// example and nothing is predicted across the boundary.
    @Test func packedRowsLoseNothingAndLeakNothing() throws {
        let data = try TrainingFixture.dataset()
        let examples = Array(data.examples.prefix(5))
        let peft = try TrainingFixture.lora(seed: 3)
        let head = try peft.head()
        peft.root.eval()
        let apart = try examples.map { try Objective.lossSum(head: head, prefix: nil, batch: Batch([$0])).value.scalar }.reduce(0, +)
        let packed = Batch(packing: [Array(examples[0..<3]), Array(examples[3..<5])])
        #expect(packed.rows == 2 && packed.targetCount == examples.reduce(0) { $0 + $1.targetCount })
        let together = try Objective.lossSum(head: head, prefix: nil, batch: packed).value.scalar
        #expect(abs(together - apart) < 1e-3 * abs(apart), "packed \(together) vs apart \(apart)")
    }

    @Test func gpt2PositionsRestartInsideAPackedRow() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/tiny-gpt2")
        let model = try GPT2LMHeadModel.load(folder: folder)
        model.eval()
        let a = TokenizedExample(ids: [5, 9, 12, 3], labels: [5, 9, 12, 3]), b = TokenizedExample(ids: [7, 7, 2], labels: [7, 7, 2])
        let head = ModelHead.languageModel(model)
        let apart = try [a, b].map { try Objective.lossSum(head: head, prefix: nil, batch: Batch([$0])).value.scalar }.reduce(0, +)
        let together = try Objective.lossSum(head: head, prefix: nil, batch: Batch(packing: [[a, b]])).value.scalar
        #expect(abs(together - apart) < 1e-4 * abs(apart))
    }

    @Test func packedPlansCoverEveryExampleWithinTheRowLength() {
        let lengths = (0..<50).map { 3 + ($0 * 7) % 11 }
        let sampler = BatchSampler(batchSize: 3, seed: 2)
        let plan = sampler.packedBatches(lengths: lengths, epoch: 1, rowLength: 20)
        #expect(plan.joined().joined().sorted() == Array(0..<50))
        #expect(plan.joined().allSatisfy { row in row.reduce(0) { $0 + lengths[$1] } <= 20 })
        #expect(plan.dropLast().allSatisfy { $0.count == 3 })
    }

    @Test func theTrainerTrainsOnPackedRows() throws {
        let data = try TrainingFixture.dataset()
        var arguments = TrainingArguments(learningRate: 1e-2, maxSteps: 3, batchSize: 2, seed: 1)
        arguments.packing = true
        arguments.packedRowLength = 64
        let trainer = try Trainer(model: try TrainingFixture.lora(seed: 1), arguments: arguments, train: data)
        try trainer.train()
        #expect(trainer.state.stepLosses.count == 3 && trainer.state.trainedExamples > 6, "rows hold several examples")
        let classification = TrainingDataset(examples: [TokenizedExample(ids: [1, 2], labels: [], classLabel: 0)], task: .classification(labels: ["a"]))
        #expect(throws: TrainingError.self) {
            try Trainer(model: TrainableModule(try TrainingFixture.base()), arguments: arguments, train: classification)
        }
    }
}
