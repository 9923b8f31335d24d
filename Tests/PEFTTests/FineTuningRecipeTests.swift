import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
import Tensors

/// The classic recipe on BERT: freeze the base, a new classification head, the top block unfrozen;
/// and the same head trained through LoRA's `modules_to_save`.
@Suite("Fine-tuning recipe")
struct FineTuningRecipeTests {
    func bert() throws -> BertForSequenceClassification { try Fixture.base("tiny-bert") as! BertForSequenceClassification }

    @Test("freeze, new head, unfreeze the top block: only those train and get gradients")
    func recipe() throws {
        let model = try bert()
        model.freeze()
        try model.replaceHead(at: "classifier", outFeatures: 5, seed: 1)
        try model.unfreezeTopBlocks(1)
        let trainable = model.trainableParameters().map(\.path)
        #expect(trainable.allSatisfy { $0.hasPrefix("classifier.") || $0.hasPrefix("bert.encoder.layer.1.") })
        #expect(trainable.contains("classifier.weight") && trainable.contains("bert.encoder.layer.1.output.dense.weight"))
        #expect(model.repeatedBlocks?.path == "bert.encoder.layer" && model.repeatedBlocks?.count == 2)
        let inputs = try Fixture.inputs("tiny-bert")
        let logits = try model(inputs.input_ids, batch: 2, attentionMask: inputs.attention_mask?.map { $0 == 1 }, tokenTypeIDs: inputs.token_type_ids)
        #expect(logits.shape == [2, 5])
        try crossEntropy(logits: logits, targets: [0, 4]).backward()
        for (path, parameter) in model.namedParameters() { #expect((parameter.grad != nil) == trainable.contains(path), "\(path)") }
    }

    @Test("recipe errors are typed")
    func errors() throws {
        let model = try bert()
        #expect(throws: ModuleError.unsupported("unfreezeTopBlocks(3): 'bert.encoder.layer' holds 2 blocks")) { try model.unfreezeTopBlocks(3) }
        #expect(throws: ModuleError.noSuchModule(path: "head")) { try model.replaceHead(at: "head", outFeatures: 2) }
        #expect(throws: ModuleError.incompatibleReplacement(path: "bert.pooler", required: "LinearLayer", found: "BertDense")) {
            try model.replaceHead(at: "bert.pooler", outFeatures: 2)
        }
        #expect(throws: ModuleError.self) { try RMSNorm(dimension: 2).unfreezeTopBlocks(1) }
    }

    @Test("LoRA with a new head through modules_to_save: the head copy and adapters train, the saved file holds them")
    func loraWithNewHead() throws {
        let model = try bert()
        try model.replaceHead(at: "classifier", outFeatures: 4, seed: 2)
        var config = LoRAConfig(rank: 2, alpha: 4, targetModules: ["query", "value"], modulesToSave: ["classifier"])
        config.taskType = "SEQ_CLS"
        let peft = try PeftModel(model, configuration: config)
        let trainable = peft.trainableParameters().map(\.path)
        #expect(trainable.filter { $0.hasPrefix("classifier.") } == ["classifier.modules_to_save.default.weight", "classifier.modules_to_save.default.bias"])
        #expect(trainable.count == 2 + 2 * 2 * 2)
        let folder = Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try peft.saveAdapter(to: folder)
        let keys = try peft.adapterStateDictionary().map(\.key)
        #expect(keys.contains("base_model.model.classifier.weight") && keys.contains("base_model.model.classifier.bias"))
        var fresh = try bert()
        try fresh.replaceHead(at: "classifier", outFeatures: 4, seed: 99)
        let reloaded = try PeftModel.load(fresh, adapter: folder)
        fresh = reloaded.model
        let inputs = try Fixture.inputs("tiny-bert")
        let mask = inputs.attention_mask?.map { $0 == 1 }
        model.eval()
        let expected = try withoutGradients { try model(inputs.input_ids, batch: 2, attentionMask: mask, tokenTypeIDs: inputs.token_type_ids).value }
        let found = try withoutGradients { try fresh(inputs.input_ids, batch: 2, attentionMask: mask, tokenTypeIDs: inputs.token_type_ids).value }
        #expect(found.maxAbsDifference(expected) < 1e-6)
    }
}
