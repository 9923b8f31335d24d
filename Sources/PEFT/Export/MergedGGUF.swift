import Foundation
import ModelIO
import Models
import NN
import Tensors

/// A decoder with its adapter merged in, written as a whole-model GGUF file that llama.cpp and
/// Ollama load without an adapter. Everything the adapter does not change — the tokenizer and
/// hyper-parameters in the metadata, untouched tensors in their original (possibly quantized)
/// encoding — is copied from the GGUF file the base was loaded from; the changed weights are
/// written in the chosen encoding, with `llama`'s q/k row order.
public enum MergedGGUF {
    /// How the changed weights are stored.
    public enum Encoding: String, Sendable, CaseIterable {
        /// float32: exact.
        case f32
        /// float16: rounded to half precision.
        case f16
        /// Q8_0 blocks (32 values share a scale): llama.cpp's 8-bit format.
        case q8_0
    }

    /// What was written: each re-encoded tensor with the largest difference its encoding made.
    public struct Report: Sendable {
        /// GGUF tensor name and largest |encoded − merged| value, per changed weight.
        public var tensors: [(name: String, maxError: Float)]
        /// The largest of them.
        public var maxError: Float { tensors.map(\.maxError).max() ?? 0 }
    }

    /// Writes `peft`'s active adapter merged into its base to `url`. `peft`'s model is left as it was
    /// (merged only while the weights are read).
    /// - Parameters:
    ///   - base: the GGUF file the base model was loaded from (its metadata and tensors).
    ///   - allTensors: re-encode every weight the model holds, not only the changed ones (an f32
    ///     file of a quantized base, say); tensors the model does not hold are copied.
    /// - Throws: `PEFTError.invalidState` for a base that is not a float decoder of `base`'s
    ///   architecture or an adapter that cannot merge (prompt tuning), and file errors.
    @discardableResult
    public static func write<Base>(_ peft: PeftModel<Base>, base: GGUFFile, to url: URL, encoding: Encoding = .f16,
                                   allTensors: Bool = false) throws -> Report {
        guard let model = peft.root as? DecoderForCausalLM else {
            throw PEFTError.invalidState("a merged GGUF is written for decoder models; this base is a \(type(of: peft.root))")
        }
        let changed = try mergedWeights(peft)
        var weights = changed
        if allTensors {
            let wasMerged = !peft.mergedAdapters.isEmpty
            if !wasMerged { try peft.merge() }
            defer { if !wasMerged { try? peft.unmerge() } }
            for (name, value) in plainWeights(model) where weights[name] == nil { weights[name] = value }
        }
        return try write(weights, required: Set(changed.keys), of: model, base: base, to: url, encoding: encoding)
    }

    /// Writes `model` (no adapter) to `url` with every weight it holds in `encoding` — a GGUF file
    /// re-encoded, such as an f32 copy of a quantized model; metadata and other tensors from `base`.
    @discardableResult
    public static func write(_ model: DecoderForCausalLM, base: GGUFFile, to url: URL, encoding: Encoding) throws -> Report {
        try write(plainWeights(model), required: [], of: model, base: base, to: url, encoding: encoding)
    }

    /// Every weight of `model` by Hugging Face name (wrapper segments removed, adapter tensors left out).
    static func plainWeights(_ model: DecoderForCausalLM) -> [String: Tensor] {
        var weights: [String: Tensor] = [:]
        let adapterContainers = ["lora_", "hada_", "lokr_", "vera_", "ia3_l", "modules_to_save", "original_module"]
        for (path, value) in model.stateDictionary() where !adapterContainers.contains(where: { path.contains($0) }) {
            weights[Module.checkpointName(of: path)] = value
        }
        return weights
    }

    /// Writes `changed` (Hugging Face names) over `base`'s tensors; each of `required` must have a
    /// tensor there (an adapter's change with nowhere to go is refused, not dropped).
    static func write(_ changed: [String: Tensor], required: Set<String>, of model: DecoderForCausalLM, base: GGUFFile, to url: URL,
                      encoding: Encoding) throws -> Report {
        let family = model.family
        guard let architecture = base.metadata["general.architecture"]?.string, family.ggufArchitectures.contains(architecture) else {
            throw PEFTError.invalidState("the base GGUF's architecture '\(base.metadata["general.architecture"]?.string ?? "none")' is not the model's (\(family.name))")
        }
        var writer = GGUFWriter()
        for key in base.metadataKeys { writer.set(key, base.metadata[key]!) }
        var report = Report(tensors: [])
        for tensor in base.tensors {
            guard let name = family.huggingFaceName(forGGUF: tensor.name), let merged = changed[name] else {
                writer.add(GGUFWriter.Tensor(name: tensor.name, shape: tensor.dimensions.reversed(), type: tensor.type, bytes: base.bytes(of: tensor)))
                continue
            }
            var values = merged.toArray()
            let rows = merged.shape[0], columns = merged.count / max(1, rows)
            if family.ggufPermutesQueryKey && merged.rank == 2 && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")) {
                let heads = name.hasSuffix("q_proj.weight") ? model.configuration.attentionHeads : model.configuration.keyValueHeads
                values = GGUFQueryKeyOrder.toGGUF(values, rows: rows, columns: columns, heads: heads)
            }
            let (encoded, error) = try encode(values, shape: merged.shape, name: tensor.name, as: merged.rank == 2 ? encoding : .f32)
            writer.add(encoded)
            report.tensors.append((tensor.name, error))
        }
        let held = Set(base.tensors.compactMap { family.huggingFaceName(forGGUF: $0.name) })
        if let first = required.subtracting(held).sorted().first {
            throw PEFTError.invalidState("the adapter changes '\(first)', which the base GGUF does not hold (a tied head?); export a Hugging Face folder with peftkit merge instead")
        }
        do { try writer.write(to: url) } catch let ModelFileError.unwritable(path, reason) {
            throw PEFTError.file(path: path, reason: "cannot be written: \(reason)")
        }
        return report
    }

    /// The weights the active adapter changes, merged, by Hugging Face name.
    static func mergedWeights<Base>(_ peft: PeftModel<Base>) throws -> [String: Tensor] {
        if let configuration = peft.configuration(peft.activeAdapter), configuration is any PromptLearningConfiguration {
            throw PEFTError.invalidState("a prompt-tuning adapter has no weights to merge; its virtual tokens cannot be part of a GGUF model")
        }
        let wasMerged = !peft.mergedAdapters.isEmpty
        if !wasMerged { try peft.merge() }
        defer { if !wasMerged { try? peft.unmerge() } }
        var weights: [String: Tensor] = [:]
        for (path, module) in peft.root.namedModules() {
            if let wrapper = module as? any AdapterWrapper, !wrapper.mergedAdapters.isEmpty {
                for (name, parameter) in wrapper.wrappedModule.namedParameters() {
                    weights[Module.checkpointName(of: path) + "." + name] = parameter.value
                }
            } else if let saved = module as? ModulesToSaveLayer, let copy = saved.copy(peft.activeAdapter) {
                for (name, parameter) in copy.namedParameters() { weights[Module.checkpointName(of: path) + "." + name] = parameter.value }
            }
        }
        return weights
    }

    /// `values` in `encoding`, with the largest difference the encoding made.
    static func encode(_ values: [Float], shape: [Int], name: String, as encoding: Encoding) throws -> (GGUFWriter.Tensor, Float) {
        switch encoding {
        case .f32:
            return (GGUFWriter.Tensor(name: name, shape: shape, floats: values), 0)
        case .f16:
            let rounded = values.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)) }
            return (GGUFWriter.Tensor(name: name, shape: shape, halfFloats: values), zip(values, rounded).map { abs($0 - $1) }.max() ?? 0)
        case .q8_0:
            let matrix = Tensor(values, shape: shape)
            let packed: QuantizedMatrix
            do { packed = try QuantizedMatrix.quantizing(matrix, to: .q8_0) } catch {
                throw PEFTError.invalidState("'\(name)' cannot be stored as Q8_0: \(error)")
            }
            let error = zip(values, packed.dequantized().toArray()).map { abs($0 - $1) }.max() ?? 0
            return (GGUFWriter.Tensor(name: name, shape: shape, type: .q8_0, bytes: packed.withUnsafeBytes { Data($0) }), error)
        }
    }
}
