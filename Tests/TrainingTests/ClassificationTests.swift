import Foundation
import Models
import ModelIO
import NN
import PEFT
import Testing
@testable import Training

@Suite struct ClassificationTests {
    @Test func metricsMatchTheirDefinitions() {
        // truth:      0 0 0 1 1 2
        // prediction: 0 1 0 1 0 2
        let metrics = ClassificationMetrics(predictions: [0, 1, 0, 1, 0, 2], truths: [0, 0, 0, 1, 1, 2], classes: 3)
        #expect(metrics.confusionMatrix == [[2, 1, 0], [1, 1, 0], [0, 0, 1]])
        #expect(abs(metrics.accuracy - 4.0 / 6) < 1e-12)
        #expect(abs(metrics.precision(0) - 2.0 / 3) < 1e-12 && abs(metrics.recall(0) - 2.0 / 3) < 1e-12)
        #expect(abs(metrics.precision(1) - 0.5) < 1e-12 && abs(metrics.recall(1) - 0.5) < 1e-12)
        // scikit-learn: f1_score([0,0,0,1,1,2], [0,1,0,1,0,2], average="macro") = 0.7222…
        #expect(abs(metrics.macroF1 - (2.0 / 3 + 0.5 + 1) / 3) < 1e-12)
        #expect(metrics.table(labels: ["neg", "neu", "pos"]).contains("neg"))
        // A class nobody predicted has precision 0, not NaN.
        #expect(ClassificationMetrics(predictions: [0, 0], truths: [0, 1], classes: 2).precision(1) == 0)
    }

    @Test func loraWithANewHeadLearnsATwoClassTask() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/tiny-bert")
        let model = try BertForSequenceClassification.load(folder: folder)
        try model.replaceHead(at: "classifier", outFeatures: 2, seed: 1)
        let configuration = LoRAConfig(rank: 4, alpha: 8, targetModules: .names(["query", "value"]), modulesToSave: ["classifier"], taskType: "SEQ_CLS")
        let peft = try PeftModel(model, configuration: configuration, seed: 1)
        // Class 0: sequences of token 5, class 1: of token 9 (with [CLS]=2 and [SEP]=3 around them).
        let examples = (0..<24).map { index in
            let label = index % 2
            let body = Array(repeating: label == 0 ? 5 : 9, count: 2 + index % 4)
            return TokenizedExample(ids: [2] + body + [3], labels: [], classLabel: label, line: index + 1)
        }
        let data = TrainingDataset(examples: examples, task: .classification(labels: ["fives", "nines"]))
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        var arguments = TrainingArguments(outputDirectory: output.path, learningRate: 2e-2, epochs: 6, batchSize: 4, seed: 1)
        arguments.handlesInterrupt = false
        arguments.metricForBestModel = "eval_f1"
        let trainer = try Trainer(model: peft, arguments: arguments, train: data, eval: data)
        let before = try trainer.evaluate()
        try trainer.train()
        let after = try trainer.evaluate()
        #expect(after["eval_loss"]! < before["eval_loss"]!)
        #expect(after["eval_accuracy"] == 1 && after["eval_f1"] == 1)
        #expect(trainer.state.logHistory.contains { $0.values["eval_f1"] != nil })
        let labelMap = try JSONDecoder().decode([String: [String: String]].self,
            from: Data(contentsOf: output.appendingPathComponent("label_map.json")).replacingLabelIDs())
        #expect(labelMap["id2label"] == ["0": "fives", "1": "nines"])
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
    }

    @Test("a training set whose examples all carry one label is refused: a classifier needs two classes")
    func oneClassIsRefused() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelsTests/Fixtures/tiny-bert")
        let model = try BertForSequenceClassification.load(folder: folder)
        try model.replaceHead(at: "classifier", outFeatures: 2, seed: 1)
        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 2, alpha: 4, targetModules: .names(["query"]), modulesToSave: ["classifier"], taskType: "SEQ_CLS"))
        let examples = (0..<4).map { TokenizedExample(ids: [2, 5, 3], labels: [], classLabel: 1, line: $0 + 1) }
        let data = TrainingDataset(examples: examples, task: .classification(labels: ["0", "1"]), source: "same.jsonl")
        #expect {
            try Trainer(model: peft, arguments: TrainingArguments(), train: data)
        } throws: { error in "\(error)".contains("every example of same.jsonl has the label '1'") && "\(error)".contains("at least two classes") }
    }

    @Test func aClassificationSetDoesNotFitALanguageModel() throws {
        let data = TrainingDataset(examples: [TokenizedExample(ids: [1, 2], labels: [], classLabel: 0)], task: .classification(labels: ["a"]))
        #expect(throws: TrainingError.self) {
            try Trainer(model: try TrainingFixture.lora(), arguments: TrainingArguments(), train: data)
        }
    }
}

private extension Data {
    /// label2id holds numbers; keep only id2label for decoding as strings.
    func replacingLabelIDs() throws -> Data {
        guard let object = try JSONSerialization.jsonObject(with: self) as? [String: Any] else { return self }
        return try JSONSerialization.data(withJSONObject: ["id2label": object["id2label"] ?? [:]])
    }
}

@Suite struct TrainableModuleTests {
    /// Without adapters: the top block and the norm unfrozen, trained, and saved under HF names.
    @Test func unfrozenLayersTrainAndSave() throws {
        let model = try TrainingFixture.base()
        model.freeze()
        try model.unfreezeTopBlocks(1)
        let trainable = TrainableModule(model)
        let before = Dictionary(uniqueKeysWithValues: trainable.trainableParameters().map { ($0.path, $0.parameter.value) })
        #expect(!before.isEmpty && before.keys.allSatisfy { !$0.contains("layers.0.") })
        let output = TrainingFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: output) }
        let arguments = TrainingArguments(outputDirectory: output.path, learningRate: 1e-2, maxSteps: 2, batchSize: 4)
        try Trainer(model: trainable, arguments: arguments, train: try TrainingFixture.dataset()).train()
        let after = trainable.trainableParameters()
        #expect(after.contains { before[$0.path] != $0.parameter.value })
        let frozen = model.namedParameters().first { $0.path.contains("layers.0.") }!.parameter
        #expect(frozen.grad == nil && !frozen.requiresGrad)
        let saved = try ModelIO.SafetensorsFile(contentsOf: output.appendingPathComponent("model.safetensors"))
        #expect(Set(saved.tensors.map(\.name)) == Set(after.map(\.path)))
    }
}
