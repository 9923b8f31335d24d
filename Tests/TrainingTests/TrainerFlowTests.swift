import Foundation
import PEFT
import Testing
@testable import Training

/// Callbacks steer the run with Hugging Face's flags (issue 27, defect 9): any callback may ask to
/// log, evaluate, save or stop at a step; when to do so by the arguments is itself a replaceable
/// callback (`DefaultFlow`); epochs and steps have begin hooks.
@Suite struct TrainerFlowTests {
    /// Records the hooks it sees and asks for what `requests` maps a step to.
    final class Steering: TrainerCallback {
        var requests: [Int: TrainerControl] = [:]
        var epochsBegun: [Int] = [], stepsBegun = 0, evaluatedAt: [Int] = [], loggedLossAt: [Int] = [], savedAt: [Int] = []
        func onEpochBegin(_ trainer: Trainer) { epochsBegun.append(trainer.state.epoch) }
        func onStepBegin(_ trainer: Trainer) { stepsBegun += 1 }
        func onStepEnd(_ trainer: Trainer) -> TrainerControl { requests[trainer.state.step] ?? .proceed }
        func onEvaluate(_ trainer: Trainer, metrics: [String: Double]) -> TrainerControl {
            evaluatedAt.append(trainer.state.step)
            return .proceed
        }
        func onLog(_ trainer: Trainer, entry: LogEntry) -> TrainerControl {
            if entry.values["loss"] != nil { loggedLossAt.append(entry.step) }
            return .proceed
        }
        func onSave(_ trainer: Trainer, checkpoint: URL) { savedAt.append(trainer.state.step) }
    }

    /// Decides nothing: no logging, evaluation or saving unless a callback asks.
    final class Silent: TrainerCallback {}

    @Test("a callback's .evaluate, .log and .save happen at its step; epoch and step begin hooks run; the default flow still acts")
    func callbacksRequestActions() throws {
        let data = try TrainingFixture.dataset()
        let (train, eval) = try data.split(evalFraction: 0.25, seed: 1)
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        // 30 examples, batch 8: 4 steps per epoch; 6 steps cross into the second epoch.
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 1e-2, maxSteps: 6, batchSize: 8)
        arguments.handlesInterrupt = false
        arguments.loggingSteps = 4
        arguments.evalSteps = 5
        let steering = Steering()
        steering.requests = [2: .evaluate, 3: TrainerControl(shouldSave: true, shouldLog: true)]
        let trainer = try Trainer(model: try TrainingFixture.lora(), arguments: arguments, train: train, eval: eval, callbacks: [steering])
        try trainer.train()
        #expect(steering.epochsBegun == [0, 1] && steering.stepsBegun == 6)
        #expect(steering.evaluatedAt == [2, 5, 6], "asked at 2, every 5 by the arguments, and at the end")
        #expect(steering.loggedLossAt == [3, 4, 6], "asked at 3, every 4 and at the last step")
        #expect(steering.savedAt == [3])
    }

    @Test("replacing the flow: with a flow that decides nothing, only what callbacks ask happens")
    func replacedFlow() throws {
        var arguments = TrainingArguments(learningRate: 1e-2, maxSteps: 4, batchSize: 8)
        arguments.handlesInterrupt = false
        arguments.loggingSteps = 1
        let steering = Steering()
        steering.requests = [2: .log, 3: .stop]
        let trainer = try Trainer(model: try TrainingFixture.lora(), arguments: arguments, train: try TrainingFixture.dataset(), callbacks: [steering])
        trainer.flow = Silent()
        try trainer.train()
        #expect(steering.loggedLossAt == [2] && trainer.state.step == 3)
    }

    @Test("controls combine: flags set by any callback are set, the first failure wins")
    func merging() {
        let merged = [TrainerControl.log, .proceed, .save, .fail("a"), .fail("b")].merged
        #expect(merged == TrainerControl(shouldSave: true, shouldLog: true, failure: "a"))
        #expect([TrainerControl]().merged == .proceed)
    }
}
