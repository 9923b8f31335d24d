import Autograd
import Foundation
import ModelIO
import NN
import Tensors

extension PeftModel {
    /// The prefix Hugging Face PEFT puts before the base model's paths in adapter files.
    static var keyPrefix: String { "base_model.model." }

    /// The tensors of adapter `name` under the keys PEFT writes (adapter name removed): what trains,
    /// then the frozen base tables PEFT also writes for adapted embeddings.
    public func adapterStateDictionary(_ name: String? = nil) throws -> [(key: String, parameter: Variable)] {
        let name = name ?? activeAdapter
        guard let configuration = configuration(name) else { throw PEFTError.noSuchAdapter(name) }
        if let encoder = promptEncoders[name] { return [("prompt_embeddings", encoder.weight)] }
        return (Injection.trainableTensors(name, configuration: configuration, model: root) + Injection.savedBaseTensors(name, model: root))
            .map { (Self.keyPrefix + $0.key, $0.parameter) } + sharedTensors(name).filter(\.saved).map { ($0.key, $0.parameter) }
    }

    /// The frozen tensors adapter `name` shares across its layers (VeRA's projections), by file key.
    func sharedTensors(_ name: String) -> [(key: String, parameter: Variable, saved: Bool)] {
        (configuration(name) as? any LayerAdapterConfiguration)?.sharedTensors(name, model: root) ?? []
    }

    /// Writes adapter `name` (default: the active one) as PEFT does: `adapter_config.json` (sorted
    /// keys) and `adapter_model.safetensors` (metadata `format: pt`) in `folder`, or in
    /// `folder/<name>` for an adapter not named `default`. Files are replaced atomically.
    public func saveAdapter(to folder: URL, adapterName: String? = nil) throws {
        let name = adapterName ?? activeAdapter
        guard var configuration = configuration(name) else { throw PEFTError.noSuchAdapter(name) }
        let target = name == "default" ? folder : folder.appendingPathComponent(name)
        let tensors = try adapterStateDictionary(name)
        for (key, parameter) in tensors where !parameter.value.isFinite {
            throw PEFTError.invalidState("adapter tensor '\(key)' holds non-finite values; nothing was written")
        }
        if let prompt = configuration as? any PromptLearningConfiguration, let encoder = promptEncoders[name] {
            configuration = prompt.stored(with: encoder)
        }
        configuration.inferenceMode = true
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            // Layers may save a different form than they train (AdaLoRA drops the ranks it pruned).
            var saved: [String: Tensor] = [:]
            for (path, module) in root.namedModules() {
                guard let layer = module as? any AdapterWrapper, layer.adapterNames.contains(name) else { continue }
                for (key, value) in layer.savedAdapterTensors(name) { saved[Self.keyPrefix + path + "." + key] = value }
            }
            let entries = tensors.map { (saved[$0.key] ?? $0.parameter.value).safetensorsEntry(named: $0.key) }
            // Both files are staged before either replaces its old version: a failed write leaves
            // the previous adapter whole.
            try AtomicFile.writeAll([(try SafetensorsWriter.encode(entries, metadata: ["format": "pt"]), target.appendingPathComponent("adapter_model.safetensors")),
                                     (Data((configuration.fileText + "\n").utf8), target.appendingPathComponent("adapter_config.json"))])
        } catch let error as PEFTError {
            throw error
        } catch let ModelFileError.unwritable(path, reason) {
            throw PEFTError.file(path: path, reason: "cannot be written: \(reason)")
        } catch {
            throw PEFTError.file(path: target.path, reason: "\(error)")
        }
    }

    /// Attaches the adapter saved in `folder` (PEFT's layout) under `adapterName`, with its exact
    /// weights. Keys and shapes are checked against the model first: a mismatch is one
    /// `PEFTError.adapterMismatch` listing every problem, and the model is left as it was.
    /// - Parameter isTrainable: keep training it (otherwise it loads in inference mode, frozen, and
    ///   the model is switched to evaluation mode as PEFT does).
    public func loadAdapter(from folder: URL, adapterName: String, isTrainable: Bool = false) throws {
        let (configuration, weights) = try Self.readAdapter(folder, isTrainable: isTrainable)
        try addAdapter(adapterName, configuration: configuration, start: .loading)
        try assignOrRemove(weights, to: adapterName, path: folder.path, isTrainable: isTrainable)
    }

    /// Loads a PEFT adapter folder onto `model` (the Python `PeftModel.from_pretrained`).
    public static func load(_ model: Base, adapter folder: URL, adapterName: String = "default", isTrainable: Bool = false) throws -> PeftModel {
        let (configuration, weights) = try readAdapter(folder, isTrainable: isTrainable)
        let peft = try PeftModel(model, configuration: configuration, adapterName: adapterName, seed: 0, start: .loading)
        try peft.assignOrRemove(weights, to: adapterName, path: folder.path, isTrainable: isTrainable)
        return peft
    }

    /// The configuration (inference mode unless trainable) and tensors of an adapter folder.
    static func readAdapter(_ folder: URL, isTrainable: Bool) throws -> (any AdapterConfiguration, [String: Tensor]) {
        var configuration = try AdapterConfigurations.load(from: folder)
        configuration.inferenceMode = !isTrainable
        return (configuration, try readWeights(folder))
    }

    /// `assign`, removing the just-added adapter again when the tensors do not fit.
    private func assignOrRemove(_ weights: [String: Tensor], to name: String, path: String, isTrainable: Bool) throws {
        do {
            try assign(weights, to: name, path: path)
        } catch {
            Injection.remove(name, from: root)
            promptEncoders.removeValue(forKey: name)
            configurations.removeAll { $0.name == name }
            attachActivePrefix()
            throw error
        }
        if !isTrainable { root.eval() }
        refreshTrainable()
    }

    static func readWeights(_ folder: URL) throws -> [String: Tensor] {
        let url = folder.appendingPathComponent("adapter_model.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("adapter_model.bin").path) {
                throw PEFTError.file(path: url.path, reason: "only adapter_model.bin (a pickle) is present; save the adapter with safetensors")
            }
            throw PEFTError.file(path: url.path, reason: "no adapter_model.safetensors in the adapter folder")
        }
        do {
            let file = try SafetensorsFile(contentsOf: url)
            var weights: [String: Tensor] = [:]
            for tensor in file.tensors {
                guard [.f32, .f16, .bf16, .f64].contains(tensor.dtype) else {
                    throw PEFTError.adapterMismatch(path: url.path, problems: ["'\(tensor.name)' has dtype \(tensor.dtype.rawValue), not a float type"])
                }
                let values = try file.floats(of: tensor)
                try Self.checkAdapterValues(values, tensor: tensor.name, path: url.path)
                weights[tensor.name] = Tensor(values, shape: tensor.shape)
            }
            return weights
        } catch let error as ModelFileError {
            throw PEFTError.file(path: url.path, reason: error.description)
        }
    }

    /// Largest magnitude an adapter weight may have: far above any trained value (a LoRA weight, a
    /// saved head or embedding row), far below where products overflow Float32.
    public static var largestAdapterValue: Float { 1e6 }

    /// Refuses a tensor holding NaN, ±inf or values beyond `largestAdapterValue`, naming it: such an
    /// adapter would load and answer with an empty line or a uniform distribution.
    static func checkAdapterValues(_ values: [Float], tensor name: String, path: String) throws {
        var largest: Float = 0
        for value in values {
            guard value.isFinite else {
                throw PEFTError.file(path: path, reason: "adapter tensor '\(name)' holds non-finite values (NaN or ±inf)")
            }
            largest = max(largest, abs(value))
        }
        guard largest <= largestAdapterValue else {
            throw PEFTError.file(path: path, reason: "adapter tensor '\(name)' holds a value of magnitude \(largest), beyond \(largestAdapterValue)")
        }
    }

    /// Copies file tensors into adapter `name`, after checking every key and shape. Keys written
    /// by older PEFT versions with the adapter name (`lora_A.<name>.weight`) are accepted too.
    func assign(_ weights: [String: Tensor], to name: String, path: String) throws {
        var file: [String: Tensor] = [:]
        for (key, value) in weights { file[key.replacingOccurrences(of: ".\(name).weight", with: ".weight")] = value }
        let unsaved = sharedTensors(name).filter { !$0.saved }.map { ($0.key, $0.parameter) }
        let expected = try adapterStateDictionary(name) + unsaved
        // Base tables are written by PEFT only with save_embedding_layers, and shared tensors that are
        // not saved are rebuilt: a file may leave them out.
        let optional = Set(Injection.savedBaseTensors(name, model: root).map { Self.keyPrefix + $0.key } + unsaved.map(\.0))
        var problems: [String] = []
        for (key, parameter) in expected {
            guard let value = file[key] else {
                if !optional.contains(key) { problems.append("missing '\(key)' \(parameter.shape)") }
                continue
            }
            if value.shape != parameter.shape { problems.append("'\(key)' has shape \(value.shape), the model needs \(parameter.shape)") }
        }
        let known = Set(expected.map(\.key))
        problems += file.keys.filter { !known.contains($0) }.sorted().map { "unexpected '\(String($0.prefix(200)))'" }
        guard problems.isEmpty else { throw PEFTError.adapterMismatch(path: path, problems: problems) }
        for (key, parameter) in expected { if let value = file[key] { parameter.value = value } }
    }
}
