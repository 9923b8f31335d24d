import Foundation
import ModelIO
import Models
import NN
import PEFT
import Testing
import Tensors

/// Broken adapter folders and configurations give typed errors and leave the model untouched.
@Suite("PEFT bad input")
struct PEFTBadInputTests {
    /// A copy of a fixture adapter folder with `edit` applied.
    func brokenCopy(of name: String, _ edit: (URL) throws -> Void) throws -> URL {
        let folder = Fixture.temporaryFolder()
        try FileManager.default.copyItem(at: Fixture.adapters.appendingPathComponent(name), to: folder)
        try edit(folder)
        return folder
    }

    func expectUnchangedFailure(_ folder: URL, base: String = "tiny-llama", _ check: (Error) -> Bool) throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = try Fixture.base(base)
        let paths = model.namedParameters().map(\.path)
        do {
            _ = try PeftModel.load(model, adapter: folder)
            Issue.record("loading \(folder.lastPathComponent) should fail")
        } catch {
            #expect(check(error), "\(error)")
        }
        #expect(model.namedParameters().map(\.path) == paths, "a failed load must not leave adapters behind")
    }

    @Test("missing or malformed config, unknown peft_type")
    func configurations() throws {
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { try FileManager.default.removeItem(at: $0.appendingPathComponent("adapter_config.json")) }) {
            "\($0)".contains("no adapter_config.json")
        }
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { try Data("{\"peft_type\": ".utf8).write(to: $0.appendingPathComponent("adapter_config.json")) }) {
            "\($0)".contains("invalid JSON")
        }
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { try Data("{\"peft_type\": \"BOFT\", \"r\": 4}".utf8).write(to: $0.appendingPathComponent("adapter_config.json")) }) {
            ($0 as? PEFTError) == .unsupportedMethod("BOFT") && "\($0)".contains("LORA, IA3, PROMPT_TUNING, LOHA")
        }
        // Another method's configuration beside LoRA's weights: every key that does not fit is named.
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { try Data("{\"peft_type\": \"LOHA\", \"r\": 4}".utf8).write(to: $0.appendingPathComponent("adapter_config.json")) }) {
            guard case let .adapterMismatch(_, problems)? = $0 as? PEFTError else { return false }
            return problems.contains { $0.contains("missing") && $0.contains("hada_w1_a") } && problems.contains { $0.contains("unexpected") && $0.contains("lora_A") }
        }
        for (json, field) in [("{\"peft_type\": \"LORA\", \"r\": 0}", "r"), ("{\"peft_type\": \"LORA\", \"lora_dropout\": 1.5}", "lora_dropout"),
                              ("{\"peft_type\": \"LORA\", \"target_modules\": \"([\"}", "target_modules"),
                              ("{\"peft_type\": \"IA3\", \"target_modules\": [\"k_proj\"], \"feedforward_modules\": [\"down_proj\"]}", "feedforward_modules")] {
            #expect { try AdapterConfigurations.parse(Data(json.utf8)) } throws: { error in
                if case let .invalidConfiguration(name, _)? = error as? PEFTError { return name == field }
                return false
            }
        }
    }

    @Test("weights whose keys or shapes do not fit; an adapter for another architecture")
    func weights() throws {
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { folder in
            // Rank 4 in the config, rank 2 tensors in the file (the o_proj ones): every mismatch is listed.
            var config = try String(contentsOf: folder.appendingPathComponent("adapter_config.json"), encoding: .utf8)
            config = config.replacingOccurrences(of: "\"o_proj\": 2", with: "\"o_proj\": 3")
            try Data(config.utf8).write(to: folder.appendingPathComponent("adapter_config.json"))
        }) { error in
            guard case let .adapterMismatch(_, problems)? = error as? PEFTError else { return false }
            return problems.count == 6 && problems.allSatisfy { $0.contains("o_proj") }
        }
        try expectUnchangedFailure(try brokenCopy(of: "gpt2-lora") { _ in }) { error in
            if case .noTargetModules(_, let modules)? = error as? PEFTError { return modules.contains("model.layers.0.self_attn.q_proj") }
            return false
        }
        try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { folder in
            try Data("not safetensors".utf8).write(to: folder.appendingPathComponent("adapter_model.safetensors"))
        }) { ($0 as? PEFTError).map { if case .file = $0 { return true } else { return false } } ?? false }
    }

    /// The fixture adapter with one value of its first tensor replaced.
    func poisonedCopy(_ value: Float) throws -> URL {
        try brokenCopy(of: "llama-lora") { folder in
            let url = folder.appendingPathComponent("adapter_model.safetensors")
            let file = try ModelIO.SafetensorsFile(contentsOf: url)
            let first = file.tensors.map(\.name).sorted()[0]
            let entries = try file.tensors.map { tensor -> ModelIO.SafetensorsWriter.Entry in
                var values = try file.floats(of: tensor)
                if tensor.name == first { values[values.count / 2] = value }
                return Tensor(values, shape: tensor.shape).safetensorsEntry(named: tensor.name)
            }
            try ModelIO.SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: url)
        }
    }

    @Test("an adapter holding NaN, ±inf or absurd values, or an absurd lora_alpha, is refused with the tensor or field named")
    func absurdValues() throws {
        for value in [Float.nan, .infinity, -.infinity, 3e38] {
            try expectUnchangedFailure(try poisonedCopy(value)) { error in
                guard case let .file(_, reason)? = error as? PEFTError else { return false }
                return reason.contains("base_model.model.") && (reason.contains("non-finite") || reason.contains("magnitude"))
            }
        }
        for alpha in ["1e38", "-1e7"] {
            try expectUnchangedFailure(try brokenCopy(of: "llama-lora") { folder in
                let url = folder.appendingPathComponent("adapter_config.json")
                let text = try String(contentsOf: url, encoding: .utf8)
                    .replacingOccurrences(of: #""lora_alpha": [0-9.]+"#, with: "\"lora_alpha\": \(alpha)", options: .regularExpression)
                try Data(text.utf8).write(to: url)
            }) { error in
                if case .invalidConfiguration(field: "lora_alpha", _)? = error as? PEFTError { return true }
                return false
            }
        }
    }

    @Test("a key given twice in adapter_config.json means its last value, as Python's json and peft read it")
    func duplicateKeys() throws {
        let folder = try brokenCopy(of: "llama-lora") { folder in
            let url = folder.appendingPathComponent("adapter_config.json")
            let text = try String(contentsOf: url, encoding: .utf8)
            try Data(text.replacingOccurrences(of: "{", with: "{\n  \"lora_dropout\": 0.5,", range: text.range(of: "{")).utf8).write(to: url)
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        let configuration = try AdapterConfigurations.load(from: folder)
        let lora = try #require(configuration as? LoRAConfig)
        #expect(lora.dropout != 0.5, "the file's later lora_dropout wins over the first one")
        #expect(try JSONValue.parse(Data(#"{"r": 8, "r": 64}"#.utf8))["r"]?.integer == 64)
    }

    @Test("targets that match nothing list the linear modules; a non-linear target is refused")
    func targeting() throws {
        let model = try Fixture.base("tiny-llama")
        #expect { try PeftModel(model, configuration: LoRAConfig(rank: 2, alpha: 2, targetModules: ["query"])) } throws: { error in
            if case .noTargetModules(_, let modules)? = error as? PEFTError { return modules.count == 22 }
            return false
        }
        #expect(throws: PEFTError.unsupportedTarget(path: "model.layers.0.input_layernorm", type: "RMSNorm", method: "LORA")) {
            try PeftModel(model, configuration: LoRAConfig(rank: 2, alpha: 2, targetModules: .pattern(".*layers\\.0\\.input_layernorm")))
        }
        #expect(model.namedParameters().allSatisfy { !$0.path.contains("lora") })
        // layers_to_transform that selects no layer is named as such, not blamed on target_modules.
        #expect {
            var configuration = LoRAConfig(rank: 2, alpha: 2, targetModules: ["q_proj"])
            configuration.layersToTransform = [999]
            return try PeftModel(model, configuration: configuration)
        } throws: { error in
            guard case let .invalidConfiguration(field, reason)? = error as? PEFTError else { return false }
            return field == "layers_to_transform" && reason.contains("layers 0…2")
        }
        #expect {
            var configuration = LoRAConfig(rank: 2, alpha: 2, targetModules: ["q_proj"])
            configuration.layersToTransform = [-1]
            return try PeftModel(model, configuration: configuration)
        } throws: { error in
            guard case let .invalidConfiguration(field, _)? = error as? PEFTError else { return false }
            return field == "layers_to_transform"
        }
    }

    @Test("the planned trainable count equals what attaching creates, for every method",
          arguments: ["tiny-llama", "tiny-gpt2", "tiny-bert"])
    func plannedCounts(_ name: String) throws {
        let targets: TargetModules = .names(name == "tiny-gpt2" ? ["c_attn"] : name == "tiny-bert" ? ["query", "value"] : ["q_proj", "v_proj", "embed_tokens"])
        var configurations: [any AdapterConfiguration] = [
            LoRAConfig(rank: 3, alpha: 6, targetModules: targets, modulesToSave: name == "tiny-bert" ? ["classifier"] : nil),
            IA3Config(targetModules: name == "tiny-llama" ? .names(["k_proj", "down_proj"]) : targets, feedforwardModules: name == "tiny-llama" ? .names(["down_proj"]) : nil),
            PromptTuningConfig(virtualTokenCount: 5),
        ]
        if name == "tiny-llama" { configurations.append(LoRAConfig(rank: 2, alpha: 2, targetModules: ["q_proj", "o_proj"], useDoRA: true)) }
        for configuration in configurations {
            let model = try Fixture.base(name)
            let planned = try PeftModel<Module>.plannedTrainableCount(configuration, model: model)
            let peft = try PeftModel(model, configuration: configuration)
            #expect(planned == peft.trainableParameterCount, "\(name) \(configuration.peftType)")
        }
    }

    @Test("all-linear with layers_to_transform adapts every linear layer of the chosen layers only, as PEFT does")
    func allLinearWithLayers() throws {
        var configuration = LoRAConfig(rank: 2, alpha: 4, targetModules: .allLinear)
        configuration.layersToTransform = [1]
        let peft = try PeftModel(try Fixture.base("tiny-llama"), configuration: configuration)
        let adapted = Set(peft.root.namedParameters().map(\.path).filter { $0.contains("lora_A") }.map { $0.components(separatedBy: ".lora_A")[0] })
        #expect(adapted.count == 7 && adapted.allSatisfy { $0.hasPrefix("model.layers.1.") }, "\(adapted.sorted())")
    }

    @Test("IA3 with unset feed-forward modules takes the family's, as PEFT does, and writes them (GPT-2 scaled mlp.c_proj's output and wrote null)")
    func ia3FeedforwardDefaults() throws {
        for (name, feedforward) in [("tiny-gpt2", "mlp.c_proj"), ("tiny-bert", "output.dense")] {
            let model = try Fixture.base(name)
            // Both feed-forward projections narrow: their input is wider than their output.
            let weight = try #require(model.namedParameters().first { $0.path.hasSuffix("\(feedforward).weight") }).parameter.shape
            let peft = try PeftModel(model, configuration: IA3Config(targetModules: nil, taskType: name == "tiny-bert" ? "SEQ_CLS" : "CAUSAL_LM"))
            let stored = try #require(peft.configuration("default") as? IA3Config)
            #expect(stored.feedforwardModules == .names([feedforward]), "\(name): \(String(describing: stored.feedforwardModules))")
            let vector = try #require(peft.root.namedParameters().first { $0.path.contains(feedforward) && $0.path.contains("ia3_l") })
            #expect(vector.parameter.value.count == weight.max(), "\(name): a feed-forward module scales its (wider) input")
        }
    }

    @Test("notices name a modules_to_save that matches nothing and a rank above a target's smaller side")
    func notices() throws {
        let peft = try PeftModel(try Fixture.base("tiny-llama"), configuration: LoRAConfig(rank: 64, alpha: 8, targetModules: ["q_proj"], modulesToSave: ["no_such_head"]))
        #expect(peft.notices.contains { $0.contains("modules_to_save 'no_such_head' matches no linear module") }, "\(peft.notices)")
        #expect(peft.notices.contains { $0.hasPrefix("r=64 exceeds min(in, out) = 32 of 'model.layers.0.self_attn.q_proj' (and 2 more targets)") }, "\(peft.notices)")
    }

    @Test("an adapter_config.json that is an array, has a byte-order mark, a null peft_type or an alpha of 1e309 is named for what it is")
    func configurationMessages() throws {
        func message(_ text: String) -> String {
            do { _ = try AdapterConfigurations.parse(Data(text.utf8)); return "parsed" } catch { return "\(error)" }
        }
        #expect(message("[1, 2]").contains("must hold a JSON object of settings, found an array"))
        #expect(message("\u{FEFF}{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"]}") == "parsed")
        #expect(message("{\"peft_type\": null}").contains("'peft_type': null"))
        #expect(message("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 1e309}").contains("'lora_alpha': is too large for a 64-bit float"))
        #expect(message("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": \"8\"}").contains("'lora_alpha': must be a number, got a string"))
    }
}
