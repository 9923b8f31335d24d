import Foundation
import Models
import NN
import PEFT
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
        let outcomes = CommunicatorTests.onEveryMember(members) {
            member -> (losses: [Double], weights: [String: Tensor], examples: Int, communication: Double, moments: OptimizerState) in
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2), train: data, communicator: member)
            let summary = try trainer.train()
            return (trainer.state.stepLosses, trainer.snapshotTrainable(), trainer.state.trainedExamples, summary.communicationRuntime,
                    trainer.optimizer.stateDictionary())
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
        // AdamW's moments and step counters: the same on the members, and one process's within rounding.
        let moments = single.optimizer.stateDictionary()
        #expect(results[0].moments == results[1].moments)
        #expect(results[0].moments.counters == moments.counters && Set(results[0].moments.tensors.keys) == Set(moments.tensors.keys))
        var worstMoment: Float = 0
        for (key, value) in moments.tensors {
            let scale = max(1e-12, value.toArray().map(abs).max()!)
            worstMoment = max(worstMoment, zip(value.toArray(), results[0].moments.tensors[key]!.toArray()).map { abs($0 - $1) / scale }.max()!)
        }
        #expect(worstMoment < 1e-4, "largest moment difference relative to the tensor's largest value \(worstMoment)")
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

    /// `settings` evaluating every 2 steps with exact match, in batches of 2.
    func evaluating(batch: Int) -> TrainingArguments {
        var arguments = settings(batch: batch)
        arguments.evalSteps = 2
        arguments.evalBatchSize = 2
        arguments.exactMatchDuringTraining = true
        arguments.maxNewTokens = 4
        return arguments
    }

    @Test("evaluation is sharded over the members and reduced: eval loss, exact match and retain-set KL equal one process's, the same on every member")
    func shardedEvaluationEqualsOneProcess() throws {
        let data = try TrainingFixture.dataset()
        let eval = TrainingDataset(examples: Array(data.examples.prefix(11)), task: data.task)  // 11: the shares differ in size
        let retain = TrainingDataset(examples: Array(data.examples.suffix(9)), task: data.task)
        let tokenizer = try TrainingFixture.tokenizer()
        let single = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: evaluating(batch: 4), train: data, eval: eval,
                                 retain: [("general", retain)], tokenizer: tokenizer)
        try single.train()
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member -> [LogEntry] in
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: evaluating(batch: 2), train: data, eval: eval,
                                      retain: [("general", retain)], tokenizer: try TrainingFixture.tokenizer(), communicator: member)
            try trainer.train()
            return trainer.state.logHistory.filter { $0.values["eval_loss"] != nil }
        }
        let members = try outcomes.map { try $0.get() }
        #expect(members[0] == members[1])
        let alone = single.state.logHistory.filter { $0.values["eval_loss"] != nil }
        #expect(alone.count == 2 && members[0].count == alone.count)
        for (parallel, reference) in zip(members[0], alone) {
            #expect(parallel.step == reference.step)
            for key in ["eval_loss", "eval_exact_match", "eval_kl", "retain_general_loss", "retain_general_kl"] {
                let a = try #require(parallel.values[key], "\(key) missing"), b = try #require(reference.values[key])
                #expect(abs(a - b) <= 1e-5 * max(1, abs(b)), "\(key): \(a) vs \(b)")
            }
        }
    }

    @Test("the members' shares of evaluation batches are disjoint and cover the set")
    func evaluationSharesCoverTheSet() {
        let members = LocalCommunicatorGroup(size: 3).members
        let shares = members.map { Evaluator.batchRanges(count: 11, batchSize: 2, communicator: $0) }
        #expect(shares.map { $0.count } == [2, 2, 2])
        #expect(shares.flatMap { $0.flatMap { Array($0) } }.sorted() == Array(0..<11))
        #expect(Evaluator.batchRanges(count: 11, batchSize: 2, communicator: SingleProcessCommunicator()).count == 6)
    }

    /// Stops (or fails) the run at `step` on one member only.
    final class OneMemberCallback: TrainerCallback {
        let rank: Int, step: Int, control: TrainerControl
        init(rank: Int, step: Int, control: TrainerControl) { (self.rank, self.step, self.control) = (rank, step, control) }
        func onStepEnd(_ trainer: Trainer) -> TrainerControl {
            trainer.communicator.rank == rank && trainer.state.step == step ? control : .proceed
        }
    }

    @Test("a stop asked on one member stops every member after the same step")
    func aStopOnOneMemberStopsAll() throws {
        let data = try TrainingFixture.dataset()
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member -> Int in
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2, steps: 6), train: data,
                                      callbacks: [OneMemberCallback(rank: 1, step: 2, control: .stop)], communicator: member)
            try trainer.train()
            return trainer.state.step
        }
        #expect(try outcomes.map { try $0.get() } == [2, 2])
    }

    @Test("a member whose training fails ends the group: it throws its error, the other learns which member failed and why")
    func aFailureInOneTrainerEndsTheGroup() throws {
        let data = try TrainingFixture.dataset()
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member -> Int in
            let trainer = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2, steps: 6), train: data,
                                      callbacks: [OneMemberCallback(rank: 1, step: 2, control: .fail("disk full"))], communicator: member)
            try trainer.train()
            return trainer.state.step
        }
        #expect(throws: TrainingError.callbackFailed("disk full")) { try outcomes[1].get() }
        #expect {
            try outcomes[0].get()
        } throws: { error in
            guard case let CommunicatorError.aborted(rank, message) = error else { return false }
            return rank == 1 && message.contains("disk full")
        }
    }

    @Test("a classifier's sharded evaluation adds the members' confusion matrices: the same scores as one process")
    func shardedClassificationEqualsOneProcess() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/tiny-bert")
        // Three classes of token runs; 13 examples, so the shares differ in size.
        let examples = (0..<13).map { index in
            TokenizedExample(ids: [2] + Array(repeating: 5 + 2 * (index % 3), count: 1 + index % 4) + [3], labels: [], classLabel: index % 3, line: index + 1)
        }
        let data = TrainingDataset(examples: examples, task: .classification(labels: ["a", "b", "c"]))
        @Sendable func classifier() throws -> BertForSequenceClassification {
            let model = try BertForSequenceClassification.load(folder: folder)
            try model.replaceHead(at: "classifier", outFeatures: 3, seed: 3)
            return model
        }
        let alone = try Evaluator(head: .classifier(try classifier()), tokenizer: nil, batchSize: 2).classification(data)
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member in
            try Evaluator(head: .classifier(try classifier()), tokenizer: nil, batchSize: 2, communicator: member).classification(data)
        }
        for outcome in outcomes {
            let shared = try outcome.get()
            #expect(shared.scores == alone.scores)
            #expect(shared.scores.total == 13)
            #expect(abs(shared.loss - alone.loss) < 1e-6)
        }
    }

    @Test("AdaLoRA trains data-parallel as in one process: the orthogonality penalty once per step, the same budget and rank pattern on every member")
    func adaLoRAEqualsOneProcess() throws {
        let data = try TrainingFixture.dataset()
        @Sendable func model() throws -> PeftModel<LlamaForCausalLM> {
            try PeftModel(try TrainingFixture.base(), configuration: AdaLoRAConfig(initialRank: 4, targetRank: 2, totalSteps: 7, initialSteps: 1, finalSteps: 2,
                                                                                   targetModules: .names(["q_proj", "v_proj"])), seed: 2)
        }
        @Sendable func pattern(_ peft: PeftModel<LlamaForCausalLM>) -> [String]? {
            (peft.configuration("default") as? AdaLoRAConfig)?.rankPattern?.map { "\($0.module) \($0.kept)" }
        }
        let singleModel = try model()
        let single = try Trainer(model: singleModel, arguments: settings(batch: 4, steps: 7), train: data)
        try single.train()
        let outcomes = CommunicatorTests.onEveryMember(LocalCommunicatorGroup(size: 2).members) { member -> (losses: [Double], pattern: [String]?) in
            let peft = try model()
            let trainer = try Trainer(model: peft, arguments: settings(batch: 2, steps: 7), train: data, communicator: member)
            try trainer.train()
            return (trainer.state.stepLosses, pattern(peft))
        }
        let members = try outcomes.map { try $0.get() }
        #expect(members[0].losses == members[1].losses)
        #expect(members[0].pattern != nil && members[0].pattern == members[1].pattern)
        #expect(members[0].pattern == pattern(singleModel))
        for (parallel, alone) in zip(members[0].losses, single.state.stepLosses) { #expect(abs(parallel - alone) < 1e-5, "\(parallel) vs \(alone)") }
    }
}
