import Autograd
import Foundation
import ModelIO
import NN
import Tensors

extension PeftModel {
    /// The prefix Hugging Face PEFT puts before the base model's paths in adapter files.
    static var keyPrefix: String { "base_model.model." }

    /// The tensors of adapter `name` under the keys PEFT writes (adapter name removed).
    public func adapterStateDictionary(_ name: String? = nil) throws -> [(key: String, parameter: Variable)] {
        let name = name ?? activeAdapter
        guard let configuration = configuration(name) else { throw PEFTError.noSuchAdapter(name) }
        if let encoder = promptEncoders[name] { return [("prompt_embeddings", encoder.weight)] }
        return Injection.trainableTensors(name, configuration: configuration, model: root).map { (Self.keyPrefix + $0.key, $0.parameter) }
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
        if var prompt = configuration as? PromptTuningConfig, let encoder = promptEncoders[name] {
            prompt.tokenDimension = encoder.weight.shape[1]
            configuration = prompt
        }
        configuration.inferenceMode = true
        do {
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            let entries = tensors.map { SafetensorsWriter.Entry(name: $0.key, shape: $0.parameter.shape, floats: $0.parameter.value.scalars) }
            try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: target.appendingPathComponent("adapter_model.safetensors"))
            try Data((configuration.fileText + "\n").utf8).write(to: target.appendingPathComponent("adapter_config.json"), options: .atomic)
        } catch let error as PEFTError {
            throw error
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
        var configuration = try AdapterConfigurations.load(from: folder)
        configuration.inferenceMode = !isTrainable
        let weights = try Self.readWeights(folder)
        try addAdapter(adapterName, configuration: configuration)
        do {
            try assign(weights, to: adapterName, path: folder.path)
        } catch {
            Injection.remove(adapterName, from: root)
            promptEncoders.removeValue(forKey: adapterName)
            configurations.removeAll { $0.name == adapterName }
            throw error
        }
        if !isTrainable { root.eval() }
        refreshTrainable()
    }

    /// Loads a PEFT adapter folder onto `model` (the Python `PeftModel.from_pretrained`).
    public static func load(_ model: Base, adapter folder: URL, adapterName: String = "default", isTrainable: Bool = false) throws -> PeftModel {
        var configuration = try AdapterConfigurations.load(from: folder)
        configuration.inferenceMode = !isTrainable
        let weights = try readWeights(folder)
        let peft = try PeftModel(model, configuration: configuration, adapterName: adapterName)
        do {
            try peft.assign(weights, to: adapterName, path: folder.path)
        } catch {
            _ = try? peft.unload()
            throw error
        }
        if !isTrainable { peft.root.eval() }
        return peft
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
                weights[tensor.name] = Tensor(try file.floats(of: tensor), shape: tensor.shape)
            }
            return weights
        } catch let error as ModelFileError {
            throw PEFTError.file(path: url.path, reason: error.description)
        }
    }

    /// Copies file tensors into adapter `name`, after checking every key and shape.
    func assign(_ weights: [String: Tensor], to name: String, path: String) throws {
        let expected = try adapterStateDictionary(name)
        var problems: [String] = []
        var seen = Set<String>()
        for (key, parameter) in expected {
            // PEFT files from older versions may carry the adapter name in the key.
            guard let value = weights[key] ?? weights[key.replacingOccurrences(of: ".weight", with: ".\(name).weight")] else {
                problems.append("missing '\(key)' \(parameter.shape)")
                continue
            }
            seen.insert(key)
            if value.shape != parameter.shape { problems.append("'\(key)' has shape \(value.shape), the model needs \(parameter.shape)") }
        }
        for key in weights.keys.sorted() where !seen.contains(key) && !seen.contains(key.replacingOccurrences(of: ".\(name).weight", with: ".weight")) {
            problems.append("unexpected '\(String(key.prefix(200)))'")
        }
        guard problems.isEmpty else { throw PEFTError.adapterMismatch(path: path, problems: problems) }
        for (key, parameter) in expected {
            parameter.value = weights[key] ?? weights[key.replacingOccurrences(of: ".weight", with: ".\(name).weight")]!
        }
    }
}
