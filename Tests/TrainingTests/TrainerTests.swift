import Autograd
import Foundation
import Models
import NN
import PEFT
import Tensors
import Testing
@testable import Training

@Suite struct TrainerTests {
    func settings(batch: Int, accumulation: Int, steps: Int = 1) -> TrainingArguments {
        var arguments = TrainingArguments(learningRate: 1e-2, maxSteps: steps, batchSize: batch, gradientAccumulationSteps: accumulation)
        arguments.shuffle = false
        arguments.groupByLength = false
        arguments.handlesInterrupt = false
        arguments.schedule = .constant
        arguments.maxGradientNorm = nil
        arguments.optimizer = .sgd
        return arguments
    }

    @Test func accumulationEqualsOneLargerBatch() throws {
        let data = try TrainingFixture.dataset()
        let accumulated = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 2, accumulation: 3), train: data)
        try accumulated.train()
        let large = try Trainer(model: try TrainingFixture.lora(seed: 4), arguments: settings(batch: 6, accumulation: 1), train: data)
        try large.train()
        #expect(abs(accumulated.state.stepLosses[0] - large.state.stepLosses[0]) < 1e-5)
        let a = accumulated.snapshotTrainable(), b = large.snapshotTrainable()
        var worst: Float = 0
        for (key, value) in a { worst = max(worst, zip(value.toArray(), b[key]!.toArray()).map { abs($0 - $1) }.max()!) }
        #expect(worst < 1e-6, "largest weight difference \(worst)")
        // And something did change.
        let initial = try TrainingFixture.lora(seed: 4)
        let before = Dictionary(uniqueKeysWithValues: initial.trainableParameters().map { ($0.path, $0.parameter.value) })
        #expect(before != a)
    }

    @Test func clippingBoundsTheGlobalNorm() {
        let a = Variable(Tensor([3, 4], shape: [2]), requiresGrad: true)
        let b = Variable(Tensor([12], shape: [1]), requiresGrad: true)
        a.grad = Tensor([3, 4], shape: [2])
        b.grad = Tensor([12], shape: [1])
        let parameters = [("a", a), ("b", b)].map { (path: $0.0, parameter: $0.1) }
        let norm = clipGradientNorm(parameters, maxNorm: 1.3)
        #expect(abs(norm - 13) < 1e-9)
        #expect(abs(gradientNorm(parameters) - 1.3) < 1e-5)
        #expect(abs(a.grad![flat: 0] - Float(3 * 1.3 / 13)) < 1e-6)
        // Below the bound nothing changes.
        let unchanged = clipGradientNorm(parameters, maxNorm: 5)
        #expect(abs(unchanged - 1.3) < 1e-5 && abs(gradientNorm(parameters) - 1.3) < 1e-5)
        b.grad = Tensor([.nan], shape: [1])
        #expect(firstNonFiniteGradient(parameters) == "b")
        #expect(!clipGradientNorm(parameters, maxNorm: 1).isFinite)
    }

    @Test func schedulesFollowTheirFormulas() {
        let peak: Float = 0.1
        let constant = WarmupSchedule(peak: peak, shape: .constant, warmupSteps: 4, totalSteps: 20)
        #expect(constant.rate(at: 0) == 0 && abs(constant.rate(at: 2) - 0.05) < 1e-7 && constant.rate(at: 4) == peak && constant.rate(at: 19) == peak)
        let linear = WarmupSchedule(peak: peak, shape: .linear, warmupSteps: 4, totalSteps: 20)
        for step in 4..<20 { #expect(abs(linear.rate(at: step) - peak * Float(20 - step) / 16) < 1e-7) }
        #expect(linear.rate(at: 25) == 0)
        let cosine = WarmupSchedule(peak: peak, shape: .cosine, warmupSteps: 0, totalSteps: 10)
        for step in 0..<10 {
            let expected = Double(peak) * 0.5 * (1 + cos(Double.pi * Double(step) / 10))
            #expect(abs(Double(cosine.rate(at: step)) - expected) < 1e-7)
        }
        #expect(abs(cosine.rate(at: 5) - peak / 2) < 1e-7)
    }

    @Test func earlyStoppingStopsOnScheduleAndRestoresTheBest() throws {
        let peft = try TrainingFixture.lora(seed: 1)
        var arguments = TrainingArguments(maxSteps: 1)
        arguments.handlesInterrupt = false
        let trainer = try Trainer(model: peft, arguments: arguments, train: try TrainingFixture.dataset())
        let stopping = EarlyStopping(patience: 2, minimumDelta: 0.01, metric: "eval_score_loss")
        stopping.onTrainBegin(trainer)
        let parameter = peft.trainableParameters()[0].parameter
        // Improvement, improvement, too small an improvement, worse → stop at the fourth evaluation.
        let sequence = [1.0, 0.8, 0.795, 0.9]
        var controls: [TrainerControl] = []
        for (index, value) in sequence.enumerated() {
            parameter.value = Tensor(repeating: Float(index), shape: parameter.shape)
            trainer.recordBest(["eval_score_loss": value])  // what the trainer does before asking the callbacks
            controls.append(stopping.onEvaluate(trainer, metrics: ["eval_score_loss": value]))
        }
        #expect(controls == [.proceed, .proceed, .proceed, .stop])
        #expect(stopping.best == 0.8)
        stopping.onTrainEnd(trainer)
        // The trainer keeps the best weights (one place): the best value, 0.795 at the third evaluation,
        // even though it was too small an improvement to reset the patience (as Hugging Face does).
        #expect(parameter.value.toArray().allSatisfy { $0 == 2 }, "the weights of the best evaluation (the third) are back")
        // Its state survives a checkpoint.
        let restored = EarlyStopping(patience: 2, minimumDelta: 0.01, metric: "eval_score_loss")
        try restored.restore(checkpointState: stopping.checkpointState()!)
        #expect(restored.best == 0.8 && restored.evaluationsWithoutImprovement == 2)
    }

    @Test func earlyStoppingInARealRunKeepsTheBestEvaluation() throws {
        let data = try TrainingFixture.dataset()
        let (train, eval) = try data.split(evalFraction: 0.25, seed: 1)
        var arguments = TrainingArguments(learningRate: 0.5, maxSteps: 12, batchSize: 4, seed: 1)
        arguments.evalSteps = 1
        arguments.handlesInterrupt = false
        arguments.optimizer = .sgd
        arguments.maxGradientNorm = nil
        arguments.schedule = .constant
        let stopping = EarlyStopping(patience: 2)
        let trainer = try Trainer(model: try TrainingFixture.lora(seed: 1), arguments: arguments, train: train, eval: eval, callbacks: [stopping])
        try trainer.train()
        let losses = trainer.state.logHistory.compactMap { $0.values["eval_loss"] }
        #expect(losses.count >= 3)
        if let stopped = stopping.stoppedAtStep {
            #expect(stopped < 12)
            let best = losses.min()!
            let final = try trainer.evaluate()["eval_loss"]!
            #expect(abs(final - best) < 1e-9, "restored weights give the best eval loss")
        }
    }

    @Test func evaluationReportsLossPerplexityAndExactMatch() throws {
        let data = try TrainingFixture.dataset()
        let peft = try TrainingFixture.lora(seed: 1)
        var arguments = TrainingArguments(maxSteps: 1)
        arguments.maxNewTokens = 4
        let trainer = try Trainer(model: peft, arguments: arguments, train: data, tokenizer: try TrainingFixture.tokenizer())
        var small = data
        small.examples = Array(data.examples.prefix(5))
        let metrics = try trainer.evaluate(small, exactMatch: true)
        #expect(metrics["eval_loss"]! > 0 && abs(metrics["eval_perplexity"]! - exp(metrics["eval_loss"]!)) < 1e-9)
        #expect(metrics["eval_exact_match"] == 0, "an untrained model does not add")
        #expect(metrics["eval_examples"] == 5)
        // The eval loss is the token-weighted mean: equal to one batch over everything.
        let evaluator = Evaluator(head: try peft.head(), tokenizer: nil, batchSize: 100)
        #expect(abs(try evaluator.metrics(small)["eval_loss"]! - metrics["eval_loss"]!) < 1e-5)
    }

    @Test func nonFiniteLossStopsNamingTheStepAndSavesNothing() throws {
        let data = try TrainingFixture.dataset()
        let peft = try TrainingFixture.lora(seed: 1)
        let b = peft.trainableParameters().first { $0.path.contains("lora_B") }!.parameter
        b.value = Tensor(repeating: .nan, shape: b.shape)
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, maxSteps: 3, batchSize: 4)
        arguments.handlesInterrupt = false
        #expect(throws: TrainingError.nonFinite(step: 1, what: "the training loss")) {
            try Trainer(model: peft, arguments: arguments, train: data).train()
        }
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
        #expect(Trainer.checkpoints(in: output).isEmpty)
    }

    @Test func skipPolicyCountsSkippedUpdates() throws {
        let data = try TrainingFixture.dataset()
        let peft = try TrainingFixture.lora(seed: 1)
        final class PoisonOnce: TrainerCallback {
            let parameter: Variable
            var saved: Tensor?
            init(_ parameter: Variable) { self.parameter = parameter }
            func onStepEnd(_ trainer: Trainer) -> TrainerControl {
                if trainer.state.step == 1 { saved = parameter.value; parameter.value = Tensor(repeating: .infinity, shape: parameter.shape) }
                if trainer.state.step == 2, let saved { parameter.value = saved }
                return .proceed
            }
        }
        let poison = PoisonOnce(peft.trainableParameters().first { $0.path.contains("lora_B") }!.parameter)
        var arguments = TrainingArguments(maxSteps: 3, batchSize: 4)
        arguments.nonFinite = .skip
        arguments.handlesInterrupt = false
        let trainer = try Trainer(model: peft, arguments: arguments, train: data, callbacks: [poison])
        let summary = try trainer.train()
        #expect(trainer.state.skippedSteps == [2])
        #expect(summary.skippedSteps == 1 && trainer.state.stepLosses.count == 2)
        #expect(trainer.state.logHistory.allSatisfy { $0.values.values.allSatisfy(\.isFinite) })
    }

    @Test func noGraphSurvivesAStep() throws {
        let peft = try TrainingFixture.lora(seed: 1)
        var arguments = TrainingArguments(maxSteps: 2, batchSize: 4)
        arguments.handlesInterrupt = false
        let trainer = try Trainer(model: peft, arguments: arguments, train: try TrainingFixture.dataset())
        try trainer.train()
        #expect(peft.trainableParameters().allSatisfy { $0.parameter.grad == nil }, "gradients are dropped after each update")
        weak var probe: Variable?
        do {
            let batch = Batch(Array(trainer.trainDataset.examples.prefix(2)))
            let loss = try Objective.lossSum(head: try peft.head(), prefix: nil, batch: batch)
            probe = loss
            loss.backward()
        }
        #expect(probe == nil, "the loss and its graph are released at the end of the scope")
    }
}

@Suite struct GradientCheckpointingTests {
    /// One step's gradients with dropout on: recomputing each block in backward gives the same
    /// gradients as keeping the activations (dropout masks are replayed).
    @Test func recomputedBlocksGiveTheSameGradients() throws {
        let data = try TrainingFixture.dataset()
        let batch = Batch(Array(data.examples.prefix(3)))
        func gradients(checkpointing: Bool) throws -> [String: Tensor] {
            let peft = try TrainingFixture.lora(dropout: 0.2, seed: 6)
            for (path, parameter) in peft.trainableParameters() where path.contains("lora_B") {
                parameter.value = Tensor(repeating: 0.01, shape: parameter.shape)  // B ≠ 0 so every tensor gets a gradient
            }
            peft.model.gradientCheckpointing = checkpointing
            peft.root.train()
            let loss = try Objective.lossSum(head: try peft.head(), prefix: nil, batch: batch)
            loss.backward()
            return Dictionary(uniqueKeysWithValues: peft.trainableParameters().map { ($0.path, $0.parameter.grad!) })
        }
        let kept = try gradients(checkpointing: false), recomputed = try gradients(checkpointing: true)
        #expect(kept.keys.sorted() == recomputed.keys.sorted() && !kept.isEmpty)
        var worst: Float = 0
        for (key, value) in kept { worst = max(worst, zip(value.toArray(), recomputed[key]!.toArray()).map { abs($0 - $1) }.max()!) }
        #expect(worst < 1e-6, "largest gradient difference \(worst)")
        #expect(kept.values.contains { $0.toArray().contains { $0 != 0 } })
    }

    @Test func theTrainerTurnsItOn() throws {
        let peft = try TrainingFixture.lora(seed: 1)
        var arguments = TrainingArguments(maxSteps: 2, batchSize: 4)
        arguments.gradientCheckpointing = true
        try Trainer(model: peft, arguments: arguments, train: try TrainingFixture.dataset()).train()
        #expect(peft.model.gradientCheckpointing)
    }
}

/// `TrainingArguments.matmulPrecision = .float16` or `.bfloat16` on a Llama wide enough for the reduced
/// products (hidden 256, MLP 512): the run follows the float32 run closely and still learns. On a CPU
/// without the instructions both runs compute in float32 and must agree exactly.
@Suite struct MixedPrecisionTrainingTests {
    func run(_ precision: MatmulPrecision) throws -> [Double] {
        let tokenizer = try TrainingFixture.tokenizer()
        let configuration = LlamaConfiguration(vocabularySize: tokenizer.vocabularySize, hiddenSize: 256, intermediateSize: 512,
                                               layerCount: 2, attentionHeads: 4, keyValueHeads: 2)
        let base = try LlamaForCausalLM(configuration, seed: 11)
        let model = try PeftModel(base, configuration: LoRAConfig(rank: 8, alpha: 16, dropout: 0, targetModules: ["q_proj", "v_proj"]),
                                  seed: 12)
        var arguments = TrainingArguments(learningRate: 1e-2, maxSteps: 8, batchSize: 8)
        arguments.shuffle = false
        arguments.handlesInterrupt = false
        arguments.matmulPrecision = precision
        let trainer = try Trainer(model: model, arguments: arguments, train: try TrainingFixture.dataset())
        try trainer.train()
        return trainer.state.stepLosses
    }

    @Test(arguments: [MatmulPrecision.float16, .bfloat16])
    func reducedPrecisionFollowsFloat32AndLearns(precision: MatmulPrecision) throws {
        let single = try run(.float32), mixed = try run(precision)
        #expect(mixed.count == 8 && single.count == 8)
        guard GEMM.isAvailable(precision) else {
            #expect(mixed == single)
            return
        }
        let worst = zip(mixed, single).map { abs($0 - $1) / abs($1) }.max()!
        #expect(worst < 5e-3, "a step's loss moved by \(worst) relative")
        #expect(mixed != single, "\(precision) gave float32's losses: the reduced products did not run")
        #expect(mixed.last! < mixed.first! * 0.9, "losses \(mixed)")
    }
}
