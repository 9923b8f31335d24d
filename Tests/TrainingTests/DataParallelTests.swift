import Foundation
import Tensors
import Testing
@testable import Training

/// Data parallelism through a `Communicator`: two members with batch b each train exactly as one
/// process with batch 2b, within summation-order rounding; a member that fails ends the other.
@Suite("Data-parallel training")
struct DataParallelTests {
    func settings(batch: Int, steps: Int = 4) -> TrainingArguments {
        var arguments = TrainingArguments(learningRate: 5e-3, maxSteps: steps, batchSize: batch, gradientAccumulationSteps: 2)
        arguments.handlesInterrupt = false
        arguments.maxGradientNorm = 0.5  // clipping acts on the summed gradient
        arguments.schedule = .cosine
        arguments.warmupSteps = 1
        return arguments
    }

    @Test("two members of batch 2 (with accumulation, clipping, AdamW and a schedule) equal one process of batch 4; the members stay identical")
    func twoMembersEqualOneDoubledBatch() throws {
        let data = try TrainingFixture.dataset()
        let single = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 4), train: data)
        #expect(try single.train().communicationRuntime == 0)

        let members = LocalCommunicatorGroup(size: 2).members
        let outcomes = CommunicatorTests.onEveryMember(members) { member -> (losses: [Double], weights: [String: Tensor], examples: Int, communication: Double) in
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2), train: data, communicator: member)
            let summary = try trainer.train()
            return (trainer.state.stepLosses, trainer.snapshotTrainable(), trainer.state.trainedExamples, summary.communicationRuntime)
        }
        let results = try outcomes.map { try $0.get() }
        // The time spent exchanging is measured and reported.
        #expect(results.allSatisfy { $0.communication > 0 })
        // Every member applied the same summed update: bit for bit the same weights and losses.
        #expect(results[0].losses == results[1].losses)
        #expect(results[0].weights == results[1].weights)
        #expect(results[0].examples == single.state.trainedExamples)
        // Against one process: the same function, summed in another order.
        #expect(results[0].losses.count == single.state.stepLosses.count)
        for (parallel, alone) in zip(results[0].losses, single.state.stepLosses) { #expect(abs(parallel - alone) < 1e-5, "\(parallel) vs \(alone)") }
        var worst: Float = 0
        for (key, value) in single.snapshotTrainable() {
            worst = max(worst, zip(value.toArray(), results[0].weights[key]!.toArray()).map { abs($0 - $1) }.max()!)
        }
        #expect(worst < 1e-5, "largest weight difference \(worst)")
        #expect(single.snapshotTrainable() != (try TrainingFixture.lora(seed: 4)).root.trainableParameters().reduce(into: [String: Tensor]()) { $0[$1.path] = $1.parameter.value })
    }

    @Test("a member that fails ends the other's training with an error naming it, instead of a hang")
    func failingMemberEndsTheGroup() throws {
        let data = try TrainingFixture.dataset()
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member -> Int in
            if member.rank == 1 {
                member.abort("rank 1 ran out of memory")
                return 0
            }
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2), train: data, communicator: member)
            try trainer.train()
            return trainer.state.step
        }
        #expect(throws: CommunicatorError.aborted(rank: 1, message: "rank 1 ran out of memory")) { try outcomes[0].get() }
    }
}
