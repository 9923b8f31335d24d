import Foundation
import ModelIO
import NN
import Tensors

/// Reading Hugging Face model folders: `config.json` and safetensors weights (single file or shards
/// listed in `model.safetensors.index.json`), with every failure turned into a `ModelError`.
enum Checkpoint {
    /// The parsed `config.json` of a folder.
    static func configuration(in folder: URL) throws -> JSONValue {
        let url = folder.appendingPathComponent("config.json")
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.file(.unreadable(path: url.path, reason: error.localizedDescription))
        }
        do { return try JSONValue.parse(data) } catch {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "\(error)")
        }
    }

    /// Every floating-point tensor of the folder's safetensors checkpoint by name (integer buffers such
    /// as `position_ids` are skipped).
    static func weights(in folder: URL) throws -> [String: Tensor] {
        var shardNames = ["model.safetensors"]
        let indexURL = folder.appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: indexURL.path) {
            let index: JSONValue
            do { index = try JSONValue.parse(try Data(contentsOf: indexURL)) } catch {
                throw ModelError.invalidConfiguration(field: "model.safetensors.index.json", reason: "\(error)")
            }
            guard let map = index["weight_map"]?.members else {
                throw ModelError.invalidConfiguration(field: "model.safetensors.index.json", reason: "no weight_map")
            }
            shardNames = Array(Set(map.compactMap { $0.value.string })).sorted()
        }
        var state: [String: Tensor] = [:]
        do {
            for shard in shardNames {
                let file = try SafetensorsFile(contentsOf: folder.appendingPathComponent(shard))
                for tensor in file.tensors where [.f32, .f16, .bf16, .f64].contains(tensor.dtype) {
                    state[tensor.name] = Tensor(try file.floats(of: tensor), shape: tensor.shape)
                }
            }
        } catch let error as ModelFileError {
            throw ModelError.file(error)
        }
        return state
    }
}

extension Module {
    /// Loads checkpoint weights by parameter path: every parameter must be present with its exact
    /// shape (`ModelError.missingWeights` / `.shapeMismatch` otherwise, and nothing is changed);
    /// entries naming no parameter are returned as unexpected.
    @discardableResult
    func loadRequiredWeights(_ state: [String: Tensor]) throws -> LoadReport {
        let expected = Dictionary(uniqueKeysWithValues: namedParameters().map { ($0.path, $0.parameter.value.shape) })
        let missing = expected.keys.filter { state[$0] == nil }.sorted()
        guard missing.isEmpty else { throw ModelError.missingWeights(missing) }
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) where state[name]!.shape != shape {
            throw ModelError.shapeMismatch(name: name, expected: shape, found: state[name]!.shape)
        }
        try loadStateDictionary(state.filter { expected[$0.key] != nil }, strict: false)
        return LoadReport(missingKeys: [], unexpectedKeys: state.keys.filter { expected[$0] == nil }.sorted())
    }
}
