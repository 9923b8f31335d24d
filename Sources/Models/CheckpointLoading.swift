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
    /// Loads checkpoint weights through `loadStateDictionary`: every parameter must be present with
    /// its exact shape (as `ModelError.missingWeights` / `.shapeMismatch`, nothing changed);
    /// entries naming no parameter are returned as unexpected.
    @discardableResult
    func loadCheckpointWeights(_ state: [String: Tensor]) throws -> StateDictionaryReport {
        do { return try loadStateDictionary(state, missing: .error, unexpected: .report) } catch let error as ModuleError {
            throw ModelError(error)
        }
    }
}

extension ModelError {
    /// The model-level form of a state-dictionary error.
    init(_ error: ModuleError) {
        switch error {
        case let .stateDictionaryMismatch(missing, _): self = .missingWeights(missing)
        case let .shapeMismatch(path, expected, found): self = .shapeMismatch(name: path, expected: expected, found: found)
        default: self = .invalidConfiguration(field: "weights", reason: error.description)
        }
    }
}
