import Foundation
import ModelIO
import Models
import NN
import Tensors

/// LoRA adapters in llama.cpp's GGUF form — what `llama-cli --lora`, `llama-server --lora` and an
/// Ollama `Modelfile`'s `ADAPTER` load: `general.type = adapter`, `adapter.type = lora`,
/// `adapter.lora.alpha`, and per adapted weight `<GGUF tensor name>.lora_a` `[r, in]` and `.lora_b`
/// `[out, r]`, named after the base's GGUF tensors and, for the `llama` architecture, with B's q/k
/// rows in llama.cpp's order.
///
/// llama.cpp scales every pair by `alpha / r` with one alpha per file; per-layer scales (rsLoRA,
/// `rank_pattern`, `alpha_pattern`) are folded into B, so the adapted function is the same.
public enum LlamaCppAdapter {
    /// Why an adapter cannot be written in llama.cpp's form.
    public static func unsupportedReason(_ configuration: any AdapterConfiguration) -> String? {
        guard let lora = configuration as? LoRAConfig else {
            return "llama.cpp applies LoRA adapters only; a \(configuration.peftType) adapter can be merged and exported as a whole model (--format gguf)"
        }
        if lora.useDoRA { return "llama.cpp cannot apply DoRA's magnitudes; merge and export the whole model instead (--format gguf)" }
        if let saved = lora.modulesToSave, !saved.isEmpty {
            return "modules_to_save (\(saved.joined(separator: ", "))) are full weights, not a LoRA pair; merge and export the whole model instead (--format gguf)"
        }
        if lora.bias != .none { return "trained biases (bias: \(lora.bias.rawValue)) have no place in a llama.cpp LoRA; merge and export the whole model instead (--format gguf)" }
        return nil
    }

    /// Writes adapter `name` (default: the active one) of `peft` to `url` as llama.cpp loads it.
    /// - Parameter tensorType: `.f32` (default) or `.f16` for the LoRA tensors.
    /// - Throws: `PEFTError.invalidState` for a method or setting llama.cpp cannot apply (naming it),
    ///   a base that is not a decoder with GGUF names, or an unwritable file.
    public static func write<Base>(_ peft: PeftModel<Base>, adapter name: String? = nil, to url: URL, tensorType: GGUFTensorType = .f32) throws {
        let name = name ?? peft.activeAdapter
        guard let configuration = peft.configuration(name) else { throw PEFTError.noSuchAdapter(name) }
        if let reason = unsupportedReason(configuration) { throw PEFTError.invalidState(reason) }
        guard let model = peft.root as? DecoderForCausalLM else {
            throw PEFTError.invalidState("llama.cpp adapters are written for decoder models (Llama, Mistral, Qwen, Gemma 3, Phi-3); this base is a \(type(of: peft.root))")
        }
        guard tensorType == .f32 || tensorType == .f16 else { throw PEFTError.invalidState("LoRA tensors are written as f32 or f16, not \(tensorType)") }
        let family = model.family
        var pairs: [(gguf: String, a: Tensor, b: Tensor, scale: Float)] = []
        for (path, module) in model.namedModules() {
            if let table = module as? LoRAEmbeddingLayer, table.adapterNames.contains(name) {
                throw PEFTError.invalidState("LoRA on '\(path)' (a token embedding) is not written for llama.cpp; merge and export the whole model instead (--format gguf)")
            }
            guard let layer = module as? LoRALayer, let settings = layer.settings[name] else { continue }
            guard let gguf = family.ggufName(forHuggingFace: path + ".weight") else {
                throw PEFTError.invalidState("'\(path)' has no GGUF tensor name in the \(family.name) family")
            }
            let tensors = Dictionary(uniqueKeysWithValues: layer.adapterTensors(name).map { ($0.key, $0.parameter.value) })
            var b = tensors["lora_B.weight"]!
            if family.ggufPermutesQueryKey && (path.hasSuffix("q_proj") || path.hasSuffix("k_proj")) {
                let heads = path.hasSuffix("q_proj") ? model.configuration.attentionHeads : model.configuration.keyValueHeads
                b = Tensor(GGUFQueryKeyOrder.toGGUF(b.toArray(), rows: b.shape[0], columns: b.shape[1], heads: heads), shape: b.shape)
            }
            pairs.append((gguf, tensors["lora_A.weight"]!, b, settings.scaling * Float(settings.rank)))
        }
        guard let first = pairs.first else { throw PEFTError.invalidState("adapter '\(name)' adapts no linear layer") }
        // One alpha for the file: the first pair's scale·r; every other pair's B carries its own ratio.
        let alpha = first.scale
        var writer = GGUFWriter()
        writer.set("general.architecture", .string(family.ggufArchitecture))
        writer.set("general.type", .string("adapter"))
        writer.set("general.name", .string(configuration.baseModelNameOrPath.map { URL(fileURLWithPath: $0).lastPathComponent + " LoRA" } ?? "LoRA adapter"))
        writer.set("adapter.type", .string("lora"))
        writer.set("adapter.lora.alpha", .float32(alpha))
        for (gguf, a, b, scale) in pairs {
            let folded = scale == alpha ? b : b * (scale / alpha)
            for (suffix, tensor) in [(".lora_a", a), (".lora_b", folded)] {
                let values = tensor.toArray()
                writer.add(tensorType == .f16 ? GGUFWriter.Tensor(name: gguf + suffix, shape: tensor.shape, halfFloats: values)
                                        : GGUFWriter.Tensor(name: gguf + suffix, shape: tensor.shape, floats: values))
            }
        }
        do { try writer.write(to: url) } catch let ModelFileError.unwritable(path, reason) {
            throw PEFTError.file(path: path, reason: "cannot be written: \(reason)")
        }
    }

    /// Reads a llama.cpp LoRA adapter onto `model` as PEFT LoRA adapter `adapterName` (lora_alpha
    /// from the file, each pair's rank from its tensors), frozen unless `isTrainable`.
    /// - Throws: `PEFTError.file` for a file that is not a llama.cpp LoRA adapter or was made for
    ///   another architecture, and `PEFTError.adapterMismatch` for tensors that do not fit the model.
    public static func load(_ url: URL, onto model: DecoderForCausalLM, adapterName: String = "default",
                            isTrainable: Bool = false) throws -> PeftModel<DecoderForCausalLM> {
        let file: GGUFFile
        do { file = try GGUFFile(contentsOf: url) } catch let error as ModelFileError { throw PEFTError.file(path: url.path, reason: error.description) }
        guard file.metadata["general.type"]?.string == "adapter", file.metadata["adapter.type"]?.string == "lora" else {
            throw PEFTError.file(path: url.path, reason: "not a llama.cpp LoRA adapter (general.type must be \"adapter\" and adapter.type \"lora\")")
        }
        let family = model.family
        guard let architecture = file.metadata["general.architecture"]?.string, family.ggufArchitectures.contains(architecture) else {
            throw PEFTError.file(path: url.path, reason: "made for architecture '\(file.metadata["general.architecture"]?.string ?? "none")', not \(family.name)'s \(family.ggufArchitectures)")
        }
        guard let alpha = file.metadata["adapter.lora.alpha"]?.double, alpha.isFinite else {
            throw PEFTError.file(path: url.path, reason: "adapter.lora.alpha is missing or not a number")
        }
        var pairs: [String: (a: GGUFTensorInfo?, b: GGUFTensorInfo?)] = [:]
        for tensor in file.tensors {
            let isA = tensor.name.hasSuffix(".lora_a"), isB = tensor.name.hasSuffix(".lora_b")
            guard isA || isB else { throw PEFTError.file(path: url.path, reason: "unexpected tensor '\(tensor.name.prefix(120))' (not a .lora_a/.lora_b)") }
            let base = String(tensor.name.dropLast(".lora_a".count))
            guard let name = family.huggingFaceName(forGGUF: base), name.hasSuffix(".weight") else {
                throw PEFTError.file(path: url.path, reason: "'\(tensor.name.prefix(120))' names no weight of a \(family.name) model")
            }
            let path = String(name.dropLast(".weight".count))
            if isA { pairs[path, default: (nil, nil)].a = tensor } else { pairs[path, default: (nil, nil)].b = tensor }
        }
        var weights: [String: Tensor] = [:], ranks: [String: Int] = [:]
        for (path, pair) in pairs {
            guard let a = pair.a, let b = pair.b else { throw PEFTError.file(path: url.path, reason: "'\(path)' has only one of lora_a and lora_b") }
            let aValues: [Float], bValues: [Float]
            do { (aValues, bValues) = (try file.floats(of: a), try file.floats(of: b)) } catch let error as ModelFileError {
                throw PEFTError.file(path: url.path, reason: error.description)
            }
            let aShape = Array(a.dimensions.reversed()), bShape = Array(b.dimensions.reversed())
            guard aShape.count == 2, bShape.count == 2, aShape[0] == bShape[1] else {
                throw PEFTError.file(path: url.path, reason: "'\(path)': lora_a \(aShape) and lora_b \(bShape) do not pair")
            }
            var bRows = bValues
            if family.ggufPermutesQueryKey && (path.hasSuffix("q_proj") || path.hasSuffix("k_proj")) {
                let heads = path.hasSuffix("q_proj") ? model.configuration.attentionHeads : model.configuration.keyValueHeads
                bRows = GGUFQueryKeyOrder.fromGGUF(bValues, rows: bShape[0], columns: bShape[1], heads: heads)
            }
            try PeftModel<DecoderForCausalLM>.checkAdapterValues(aValues + bRows, tensor: path, path: url.path)
            weights["base_model.model.\(path).lora_A.weight"] = Tensor(aValues, shape: aShape)
            weights["base_model.model.\(path).lora_B.weight"] = Tensor(bRows, shape: bShape)
            ranks[path] = aShape[0]
        }
        guard !ranks.isEmpty else { throw PEFTError.file(path: url.path, reason: "the adapter holds no LoRA pair") }
        // The most common rank is r; the others go to rank_pattern, exact paths as patterns.
        let rank = Dictionary(grouping: ranks.values, by: { $0 }).max { ($0.value.count, -$0.key) < ($1.value.count, -$1.key) }!.key
        let paths = ranks.keys.sorted()
        var configuration = LoRAConfig(rank: rank, alpha: alpha, targetModules: .names(paths), inferenceMode: !isTrainable)
        configuration.rankPattern = paths.filter { ranks[$0] != rank }.map { (NSRegularExpression.escapedPattern(for: $0), Double(ranks[$0]!)) }
        let peft = try PeftModel(model, configuration: configuration, adapterName: adapterName, seed: 0, start: .loading)
        do { try peft.assign(weights, to: adapterName, path: url.path) } catch {
            _ = try? peft.unload()
            throw error
        }
        if !isTrainable { peft.root.eval() }
        peft.refreshTrainable()
        return peft
    }
}
