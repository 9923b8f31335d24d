import Autograd
import Foundation
import ModelIO
import Models
import NN
import PEFT
import Testing
import Tensors

/// A base whose block linears are quantized (QLoRA): the same function as a float base holding the
/// dequantized weights — logits, loss and LoRA gradients equal bit for bit — at a fraction of the
/// bytes; counts, state dictionaries and saving see the packed weights; merging into them is refused.
@Suite("Quantized bases")
struct QuantizedBaseTests {
    static let folder = Fixture.models.appendingPathComponent("tiny-llama")

    /// The float model equivalent to a quantized one: each packed weight dequantized into a `Linear`.
    static func dequantizedTwin(of model: LlamaForCausalLM) throws -> LlamaForCausalLM {
        let twin = try LlamaForCausalLM.load(folder: folder)
        for (path, module) in model.namedModules() {
            guard let layer = module as? QuantizedLinear else { continue }
            try twin.replaceModule(at: path, with: Linear(weight: layer.denseWeight(), bias: layer.bias?.value))
        }
        return twin
    }

    @Test("Q8_0 and Q4_1 bases give the logits of their dequantized twins exactly", arguments: [QuantizedMatrix.Format.q8_0, .q4_1])
    func logits(_ format: QuantizedMatrix.Format) throws {
        let model = try LlamaForCausalLM.load(folder: Self.folder, quantization: .quantize(format))
        // Every block linear but down_proj, whose 48 inputs are not a multiple of the 32-value block.
        let packed = model.namedModules().filter { $0.module is QuantizedLinear }
        #expect(packed.count == 6 * model.configuration.layerCount)
        let float = model.namedModules().filter { $0.module is Linear && $0.path.hasPrefix("model.layers.") }.map(\.path)
        #expect(float.allSatisfy { $0.hasSuffix("down_proj") } && float.count == model.configuration.layerCount)
        let twin = try Self.dequantizedTwin(of: model)
        #expect(try Fixture.logits(model, base: "tiny-llama").toArray() == (try Fixture.logits(twin, base: "tiny-llama")).toArray())
        // Close to the float original: the quantization error, not a different function.
        let original = try Fixture.logits(try LlamaForCausalLM.load(folder: Self.folder), base: "tiny-llama")
        let worst = Fixture.maxDifference(try Fixture.logits(model, base: "tiny-llama"), original.toArray())
        #expect(worst < (format == .q8_0 ? 0.02 : 0.2), "\(format): max |Δlogit| against float = \(worst)")
        // Counted and saved like the float model (saving writes float weights).
        #expect(model.parameterCount == twin.parameterCount)
        #expect(Set(model.stateDictionary().keys) == Set(twin.stateDictionary().keys))
        #expect(model.namedParameters().count < twin.namedParameters().count)
    }

    @Test("LoRA on a Q4_1 base: the loss and every adapter gradient equal those on its dequantized twin")
    func loraGradients() throws {
        let quantized = try LlamaForCausalLM.load(folder: Self.folder, quantization: .quantize(.q4_1))
        let twin = try Self.dequantizedTwin(of: quantized)
        var losses: [Float] = []
        var gradients: [[String: Tensor]] = []
        for model in [quantized, twin] {
            let peft = try PeftModel(model, configuration: LoRAConfig(rank: 4, alpha: 8, targetModules: .allLinear, initialization: .random), seed: 5)
            let inputs = try Fixture.inputs("tiny-llama")
            let logits = try model(inputs.input_ids, batch: 2)
            let targets = Array(inputs.input_ids.dropFirst()) + [-100]
            let loss = try crossEntropy(logits: logits.reshaped([-1, model.configuration.vocabularySize]), targets: targets)
            loss.backward()
            losses.append(loss.value[flat: 0])
            gradients.append(Dictionary(uniqueKeysWithValues: peft.root.trainableParameters().map { ($0.path, $0.parameter.grad!) }))
        }
        #expect(losses[0] == losses[1])
        #expect(gradients[0].keys.sorted() == gradients[1].keys.sorted() && gradients[0].count == 14 * quantized.configuration.layerCount)
        for (path, gradient) in gradients[0] { #expect(gradient.toArray() == gradients[1][path]!.toArray(), "\(path)") }
    }

    @Test("QLoRA on an NF4 base: loss and adapter gradients equal the dequantized twin's bit for bit, and training lowers the loss as on the float base")
    func nf4Base() throws {
        let configuration = LlamaConfiguration(vocabularySize: 96, hiddenSize: 64, intermediateSize: 128, layerCount: 2, attentionHeads: 4,
                                               keyValueHeads: 2, ropeTheta: 10_000, rmsNormEpsilon: 1e-5, maxPositionEmbeddings: 64, tieWordEmbeddings: true)
        let quantized = try LlamaForCausalLM(configuration, seed: 3)
        let result = try quantized.quantizeLinearLayers(under: "model.layers.", to: .nf4)
        #expect(result.quantized.count == 14 && result.keptFloat.isEmpty)
        #expect(quantized.namedPackedParameters().allSatisfy { $0.matrix.format == .nf4 })
        let twin = try LlamaForCausalLM(configuration, seed: 3)
        for (path, module) in quantized.namedModules() {
            if let layer = module as? QuantizedLinear { try twin.replaceModule(at: path, with: Linear(weight: layer.denseWeight())) }
        }
        let original = try LlamaForCausalLM(configuration, seed: 3)
        var generator = SeededRandom(seed: 8)
        let ids = (0..<48).map { _ in Int(generator.next() % 96) }
        let targets = Array(ids.dropFirst()) + [-100]
        var curves: [[Float]] = []
        var firstGradients: [[String: Tensor]] = []
        for model in [quantized, twin, original] {
            let peft = try PeftModel(model, configuration: LoRAConfig(rank: 4, alpha: 8, targetModules: ["q_proj", "v_proj"]), seed: 5)
            let optimizer = AdamW(learningRate: 1e-2)
            var losses: [Float] = []
            for step in 0..<15 {
                let logits = try model(ids, batch: 2)
                let loss = try crossEntropy(logits: logits.reshaped([-1, 96]), targets: targets)
                loss.backward()
                if step == 0 {
                    firstGradients.append(Dictionary(uniqueKeysWithValues: peft.root.trainableParameters().map { ($0.path, $0.parameter.grad!) }))
                }
                optimizer.step(peft.root)
                optimizer.zeroGradients(peft.root)
                losses.append(loss.value.scalar)
            }
            curves.append(losses)
        }
        #expect(curves[0] == curves[1], "NF4 base and its dequantized twin train identically")
        for (path, gradient) in firstGradients[0] { #expect(gradient.toArray() == firstGradients[1][path]!.toArray(), "\(path)") }
        // The quantization error changes the function a little, not how well LoRA learns on it.
        let dropNF4 = curves[0].last! / curves[0].first!, dropFloat = curves[2].last! / curves[2].first!
        #expect(dropNF4 < 0.7 && dropFloat < 0.7, "loss ratio after 15 steps: NF4 \(dropNF4), float \(dropFloat)")
        #expect(abs(dropNF4 - dropFloat) < 0.1, "NF4 \(dropNF4) against float \(dropFloat)")
    }

    @Test("a packed token table: lookups, tied logits and their input gradient equal the float table's bit for bit; LoRA refuses it")
    func packedEmbedding() throws {
        var generator = SeededRandom(seed: 31)
        let table = try QuantizedMatrix.quantizing(Tensor.randomNormal([70, 64], generator: &generator), to: .q8_0)
        let packed = QuantizedEmbedding(table: table), float = Embedding(weight: table.dequantized())
        #expect(packed.count == 70 && packed.dimension == 64)
        let ids = [3, 69, 0, 3, 41, 12]
        #expect(try packed(ids, shape: [2, 3]).value == (try float(ids, shape: [2, 3])).value)
        #expect(throws: TensorError.self) { try packed([5, 70]) }
        #expect(throws: TensorError.self) { try packed([-1]) }
        // Tied head: logits and the gradient reaching the hidden states.
        let hidden = Tensor.randomNormal([2, 5, 64], generator: &generator)
        let h0 = Variable(hidden, requiresGrad: true), h1 = Variable(hidden, requiresGrad: true)
        let y0 = packed.tiedLogits(h0), y1 = float.tiedLogits(h1)
        #expect(y0.value == y1.value && y0.shape == [2, 5, 70])
        (y0 * y0).sum().backward()
        (y1 * y1).sum().backward()
        #expect(h0.grad == h1.grad && h0.grad != nil)
        // The table is frozen and packed: no parameters, one packed tensor, saved dequantized.
        #expect(packed.namedParameters().isEmpty && packed.namedPackedParameters().count == 1)
        #expect(packed.stateDictionary()["weight"] == table.dequantized())
        // LoRA does not wrap a packed table.
        let root = Module()
        root.registerChild("embed_tokens", packed)
        #expect(throws: PEFTError.self) { try PeftModel(root, configuration: LoRAConfig(rank: 2, alpha: 4, targetModules: ["embed_tokens"])) }
    }

    @Test("merging into a packed weight is refused with a typed error; the adapter stays usable")
    func mergeRefused() throws {
        let model = try LlamaForCausalLM.load(folder: Self.folder, quantization: .quantize(.q8_0))
        let peft = try PeftModel(model, configuration: LoRAConfig(rank: 2, alpha: 4, targetModules: .names(["q_proj"]), initialization: .random))
        let before = try Fixture.logits(model, base: "tiny-llama")
        #expect(throws: (any Error).self) { try peft.merge() }
        #expect(try Fixture.logits(model, base: "tiny-llama").toArray() == before.toArray())
    }

    @Test("merging into a packed base re-quantizes explicitly: each layer's error is measured against the exact float merge", arguments: [QuantizedMatrix.Format.q8_0, .q4_1])
    func requantizedMerge(_ format: QuantizedMatrix.Format) throws {
        let configuration = LoRAConfig(rank: 4, alpha: 8, targetModules: .names(["q_proj", "v_proj"]), initialization: .random)
        // The exact merge: the same adapter on the dequantized twin, merged in float.
        let packedBase = try LlamaForCausalLM.load(folder: Self.folder, quantization: .quantize(format))
        let twin = try Self.dequantizedTwin(of: packedBase)
        let exact = try PeftModel(twin, configuration: configuration, seed: 9).mergeAndUnload()
        let (merged, reports) = try PeftModel(packedBase, configuration: configuration, seed: 9).mergeAndUnloadRequantizing()
        // q_proj and v_proj of every layer were packed, merged, and packed again in the same format.
        #expect(reports.count == 2 * merged.configuration.layerCount)
        #expect(merged.namedModules().allSatisfy { !($0.module is any AdapterWrapper) })
        for (path, report) in reports {
            let layer = try #require(merged.module(at: path) as? QuantizedLinear)
            let reference = try #require(exact.module(at: path) as? Linear).weight.value
            let difference = layer.denseWeight() - reference
            // The report is the measured difference, not an assumption.
            #expect(report.format == format && report.maxAbsoluteError == difference.toArray().map(Swift.abs).max())
            #expect(report.rmsError > 0 && report.updateRMS > 0 && report.errorRelativeToUpdate.isFinite)
            // Within the format's step: Q8_0 d/2 (d = absmax/127), Q4_1 (max − min)/30 per block, with the half-precision slack.
            let bound: Float = format == .q8_0 ? reference.toArray().map(Swift.abs).max()! / 127 * 0.6 : 2 * reference.toArray().map(Swift.abs).max()! / 15 * 0.6
            #expect(report.maxAbsoluteError <= bound, "\(path): \(report)")
        }
        // The merged packed model stays close to the exact merge: the re-quantization error only.
        let worst = Fixture.maxDifference(try Fixture.logits(merged, base: "tiny-llama"), try Fixture.logits(exact, base: "tiny-llama").toArray())
        #expect(worst < (format == .q8_0 ? 0.02 : 0.2), "\(format): max |Δlogit| = \(worst)")
    }

    @Test("quantizing while loading (one matrix at a time) gives the packed weights of quantizing the loaded float model", arguments: [QuantizedMatrix.Format.q8_0, .q4_1])
    func quantizedWhileLoading(_ format: QuantizedMatrix.Format) throws {
        let streamed = try LlamaForCausalLM.load(folder: Self.folder, quantization: .quantize(format))
        let afterwards = try LlamaForCausalLM.load(folder: Self.folder)
        let expected = try afterwards.quantizeLinearLayers(under: "model.layers.", to: format)
        let packed = Dictionary(uniqueKeysWithValues: streamed.namedModules().compactMap { entry in
            (entry.module as? QuantizedLinear).map { (entry.path, $0.weight) }
        })
        #expect(packed.keys.sorted() == expected.quantized.sorted() && !packed.isEmpty)
        for (path, module) in afterwards.namedModules() {
            guard let layer = module as? QuantizedLinear else { continue }
            #expect(packed[path] == layer.weight, "\(path)")
        }
        #expect(streamed.namedParameters().map(\.path) == afterwards.namedParameters().map(\.path))
        #expect(try Fixture.logits(streamed, base: "tiny-llama").toArray() == (try Fixture.logits(afterwards, base: "tiny-llama")).toArray())
    }

    @Test("a non-finite block weight met while quantizing during the load is an error naming its layer")
    func poisonedWhileLoading() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("poisoned-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: Self.folder, to: folder)
        let url = folder.appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(contentsOf: url)
        let entries = try file.tensors.map { tensor -> SafetensorsWriter.Entry in
            var values = try file.floats(of: tensor)
            if tensor.name == "model.layers.1.mlp.up_proj.weight" { values[7] = .nan }
            return Tensor(values, shape: tensor.shape).safetensorsEntry(named: tensor.name)
        }
        try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: url)
        #expect {
            try LlamaForCausalLM.load(folder: folder, quantization: .quantize(.q8_0))
        } throws: { error in
            guard case let .invalidConfiguration(field, reason)? = error as? ModelError else { return false }
            return field == "model.layers.1.mlp.up_proj" && reason.contains("non-finite")
        }
    }

    @Test("a layer of odd width stays float; a non-finite weight is an error naming its layer")
    func unquantizable() throws {
        let holder = Module()
        holder.registerChild("narrow", Linear(weight: Tensor.ones([4, 20])))   // 20 inputs: not a multiple of 32
        holder.registerChild("broken", Linear(weight: Tensor(repeating: .nan, shape: [4, 32])))
        #expect(throws: ModelError.invalidConfiguration(field: "broken", reason: "cannot be quantized to Q8_0: QuantizedMatrix.quantizing: invalid shape [4, 32]: the matrix holds non-finite values")) {
            try holder.quantizeLinearLayers(under: "", to: .q8_0)
        }
        try holder.replaceModule(at: "broken", with: Linear(weight: Tensor.ones([4, 32])))
        let result = try holder.quantizeLinearLayers(under: "", to: .q8_0)
        #expect(result.quantized == ["broken"] && result.keptFloat == ["narrow"])
    }
}
