import Testing
import Autograd
import NN
import Tensors

/// A two-level tree with Hugging Face-style names: `model.layers.0.self_attn.q_proj.weight` etc.
final class ToyAttention: Module {
    init(generator: inout SeededRandom) {
        super.init()
        registerChild("q_proj", Linear(inFeatures: 4, outFeatures: 4, bias: false, generator: &generator))
        registerChild("v_proj", Linear(inFeatures: 4, outFeatures: 4, bias: true, generator: &generator))
    }
    var qProj: any LinearLayer { child("q_proj") }
}

final class ToyModel: Module {
    init(layers: Int, generator: inout SeededRandom) {
        super.init()
        let stack = Module()
        for i in 0..<layers {
            let layer = Module()
            layer.registerChild("self_attn", ToyAttention(generator: &generator))
            layer.registerChild("input_layernorm", RMSNorm(dimension: 4))
            stack.registerChild("\(i)", layer)
        }
        let body = Module()
        body.registerChild("embed_tokens", Embedding(count: 10, dimension: 4, generator: &generator))
        body.registerChild("layers", stack)
        registerChild("model", body)
    }
}

/// Stands in for an adapter: wraps a linear layer and doubles its output.
final class DoublingLinear: Module, LinearLayer {
    let base: Linear
    init(_ base: Linear) {
        self.base = base
        super.init()
        registerChild("base_layer", base)
    }
    var inFeatures: Int { base.inFeatures }
    var outFeatures: Int { base.outFeatures }
    var weightLayout: WeightLayout { base.weightLayout }
    var isPacked: Bool { false }
    var bias: Variable? { base.bias }
    func denseWeight() -> Tensor { base.denseWeight() * 2 }
    func addToWeight(_ delta: Tensor) throws { try base.addToWeight(delta / 2) }
    func assignDenseWeight(_ weight: Tensor) throws { try base.assignDenseWeight(weight / 2) }
    func callAsFunction(_ x: Variable) -> Variable { base(x) * 2 }
}

/// A module with typed children.
final class TypedBlock: Module {
    @Child("proj") var proj: any LinearLayer
    @Child("layers") var layers: ModuleList<RMSNorm>
    init(generator: inout SeededRandom) {
        super.init()
        registerChild(_proj, Linear(inFeatures: 4, outFeatures: 3, generator: &generator))
        registerChild(_layers, ModuleList([RMSNorm(dimension: 4), RMSNorm(dimension: 4)]))
    }
}

@Suite("Module")
struct ModuleTests {
    func makeModel() -> ToyModel {
        var generator = SeededRandom(seed: 1)
        return ToyModel(layers: 2, generator: &generator)
    }

    @Test("dotted paths match Hugging Face names")
    func paths() {
        let paths = makeModel().namedParameters().map(\.path)
        #expect(paths == [
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
            "model.layers.0.input_layernorm.weight",
            "model.layers.1.self_attn.q_proj.weight",
            "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.v_proj.bias",
            "model.layers.1.input_layernorm.weight",
        ])
        #expect(makeModel().parameterCount == 40 + 2 * (16 + 20 + 4))
    }

    @Test("freeze and unfreeze by path, prefix, pattern and predicate")
    func freezing() throws {
        let model = makeModel()
        model.freeze()
        #expect(model.trainableParameterCount == 0)
        model.unfreeze(path: "model.layers.1.self_attn")
        #expect(model.trainableParameters().map(\.path) == [
            "model.layers.1.self_attn.q_proj.weight",
            "model.layers.1.self_attn.v_proj.weight", "model.layers.1.self_attn.v_proj.bias",
        ])
        try model.freeze(matching: #".*\.bias"#)
        #expect(model.trainableParameterCount == 32)
        model.unfreeze(where: { $0.hasSuffix("input_layernorm.weight") })
        #expect(model.trainableParameterCount == 40)
        #expect(model.trainableParameterSummary == "trainable 40 / 120 (33.33%)")
        #expect(throws: ModuleError.self) { try model.freeze(matching: "([") }
    }

    @Test("a replaced child is what forward sees; a bad path is a typed error")
    func replacement() throws {
        let model = makeModel()
        let attention: ToyAttention = model.module(at: "model.layers.0.self_attn") as! ToyAttention
        let x = Variable(.ones([1, 4]))
        let before = attention.qProj(x).value
        let original: Linear = attention.child("q_proj")
        try model.replaceModule(at: "model.layers.0.self_attn.q_proj", with: DoublingLinear(original))
        #expect(attention.qProj(x).value == before * 2)
        #expect(model.namedParameters().map(\.path).contains("model.layers.0.self_attn.q_proj.base_layer.weight"))
        #expect(throws: ModuleError.noSuchModule(path: "model.layers.7.self_attn")) {
            try model.replaceModule(at: "model.layers.7.self_attn", with: Module())
        }
    }

    @Test("@Child properties see replacements; wrong types, removal and modes are checked")
    func typedChildren() throws {
        var generator = SeededRandom(seed: 3)
        let block = TypedBlock(generator: &generator)
        let x = Variable(.ones([2, 4]))
        let before = block.proj(x).value
        block.eval()
        let original = block.proj as! Linear
        try block.replaceModule(at: "proj", with: DoublingLinear(original))
        #expect(block.proj(x).value == before * 2)
        #expect(block.proj.isTraining == false, "the replacement takes over the evaluation mode")
        #expect(throws: ModuleError.incompatibleReplacement(path: "proj", required: "LinearLayer", found: "RMSNorm")) {
            try block.replaceModule(at: "proj", with: RMSNorm(dimension: 4))
        }
        #expect(throws: ModuleError.self) { try block.removeChild("proj") }
        block.registerChild("extra", RMSNorm(dimension: 4))
        #expect(block.namedParameters().map(\.path).contains("extra.weight"))
        try block.removeChild("extra")
        #expect(!block.namedParameters().map(\.path).contains("extra.weight"))
        #expect(block.layers.count == 2 && block.layers[1] === block.module(at: "layers.1"))
    }

    @Test("Hugging Face names load into a wrapped layer (base_layer skipped)")
    func wrappedLoading() throws {
        let model = makeModel()
        var generator = SeededRandom(seed: 9)
        let plain = ToyModel(layers: 2, generator: &generator)
        let original: Linear = (model.module(at: "model.layers.1.self_attn") as! ToyAttention).child("q_proj")
        try model.replaceModule(at: "model.layers.1.self_attn.q_proj", with: DoublingLinear(original))
        try model.loadStateDictionary(plain.stateDictionary())
        #expect(original.weight.value == plain.stateDictionary()["model.layers.1.self_attn.q_proj.weight"]!)
        #expect(Module.checkpointName(of: "a.q_proj.base_layer.weight") == "a.q_proj.weight")
    }

    @Test("state dictionary round trip; strict, shape and non-strict reports")
    func stateDictionary() throws {
        let source = makeModel()
        var generator = SeededRandom(seed: 77)
        let target = ToyModel(layers: 2, generator: &generator)
        try target.loadStateDictionary(source.stateDictionary())
        #expect(target.stateDictionary() == source.stateDictionary())

        var partial = source.stateDictionary()
        partial.removeValue(forKey: "model.embed_tokens.weight")
        partial["lm_head.weight"] = .zeros([2])
        #expect(throws: ModuleError.stateDictionaryMismatch(missing: ["model.embed_tokens.weight"], unexpected: ["lm_head.weight"])) {
            try target.loadStateDictionary(partial)
        }
        let report = try target.loadStateDictionary(partial, strict: false)
        #expect(report.missingKeys == ["model.embed_tokens.weight"] && report.unexpectedKeys == ["lm_head.weight"])

        var wrongShape = source.stateDictionary()
        wrongShape["model.layers.0.input_layernorm.weight"] = .ones([5])
        #expect(throws: ModuleError.shapeMismatch(path: "model.layers.0.input_layernorm.weight", expected: [4], found: [5])) {
            try target.loadStateDictionary(wrongShape)
        }
    }

    @Test("train/eval mode reaches every module; dropout is identity in eval")
    func modes() {
        let dropout = Dropout(probability: 0.5, seed: 3)
        let x = Variable(.ones([100]))
        #expect(dropout(x).value != x.value)
        let parent = Module()
        parent.registerChild("drop", dropout)
        parent.eval()
        #expect(!dropout.isTraining)
        #expect(dropout(x).value == x.value)
    }

    @Test("layers: Linear computes x·Wᵀ + b, Embedding rejects bad ids")
    func layers() throws {
        let linear = Linear(weight: Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2]), bias: Tensor([1, 1, 1]))
        #expect(linear.inFeatures == 2 && linear.outFeatures == 3)
        #expect(linear(Variable(Tensor([1, 1], shape: [1, 2]))).value.toArray() == [4, 8, 12])
        let table = Embedding(weight: Tensor([0, 0, 1, 1, 2, 2], shape: [3, 2]))
        #expect(try table([2, 1], shape: [1, 2]).value.toArray() == [2, 2, 1, 1])
        #expect(throws: TensorError.indexOutOfRange(operation: "gatherRows", index: 3, bound: 3, position: 0)) {
            try table([3])
        }
        let norm = LayerNorm(dimension: 2)
        #expect(norm(Variable(Tensor([1, 3], shape: [1, 2]))).value.isClose(to: Tensor([-1, 1], shape: [1, 2]), atol: 1e-4))
    }
}

@Suite("Deferred initialisation")
struct DeferredInitializationTests {
    @Test("inside deferred { }, layers draw no random numbers (the loader supplies every weight); outside they do")
    func deferredDrawsNothing() {
        var deferredGenerator = SeededRandom(seed: 1), eagerGenerator = SeededRandom(seed: 1)
        let untouched = SeededRandom(seed: 1)
        let deferred = ParameterInitialization.deferred { Linear(inFeatures: 64, outFeatures: 32, generator: &deferredGenerator) }
        _ = Linear(inFeatures: 64, outFeatures: 32, generator: &eagerGenerator)
        #expect(deferredGenerator == untouched && eagerGenerator != untouched)
        #expect(deferred.weight.shape == [32, 64] && deferred.bias?.shape == [32])
        // Strict loading then gives every parameter a value.
        let values = Tensor.ones([32, 64])
        #expect(throws: ModuleError.self) { try deferred.loadStateDictionary(["weight": values]) }
        _ = try? deferred.loadStateDictionary(["weight": values, "bias": Tensor.zeros([32])])
        #expect(deferred.weight.value.toArray().allSatisfy { $0 == 1 })
    }
}
