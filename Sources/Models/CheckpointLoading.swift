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
        do { data = try InputFile.read(url) } catch let error as ModelFileError {
            throw ModelError.file(error)
        }
        do { return try JSONValue.parse(data) } catch {
            throw ModelError.invalidConfiguration(field: "config.json", reason: "\(error)")
        }
    }

    /// The safetensors files of a folder: `model.safetensors`, or the shards listed in
    /// `model.safetensors.index.json`.
    static func shards(in folder: URL) throws -> [URL] {
        let indexURL = folder.appendingPathComponent("model.safetensors.index.json")
        guard FileManager.default.fileExists(atPath: indexURL.path) else { return [folder.appendingPathComponent("model.safetensors")] }
        let index: JSONValue
        do { index = try JSONValue.parse(try InputFile.read(indexURL)) } catch {
            throw ModelError.invalidConfiguration(field: "model.safetensors.index.json", reason: "\(error)")
        }
        guard let map = index["weight_map"]?.members else {
            throw ModelError.invalidConfiguration(field: "model.safetensors.index.json", reason: "no weight_map")
        }
        let names = Array(Set(map.compactMap { $0.value.string })).sorted()
        guard names.allSatisfy({ !$0.contains("/") && $0 != ".." }) else {
            throw ModelError.invalidConfiguration(field: "model.safetensors.index.json", reason: "a shard name points outside the folder")
        }
        return names.map { folder.appendingPathComponent($0) }
    }

    /// The opened safetensors files of a folder (headers parsed, data mapped, nothing converted).
    static func files(in folder: URL) throws -> [SafetensorsFile] {
        do { return try shards(in: folder).map { try SafetensorsFile(contentsOf: $0) } } catch let error as ModelFileError {
            throw ModelError.file(error)
        }
    }

    /// Name → shape of every floating-point tensor (no data read), for checking a configuration
    /// against the weights before the model is built.
    static func tensorShapes(of files: [SafetensorsFile]) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for file in files {
            for tensor in file.tensors where isFloat(tensor.dtype) { shapes[tensor.name] = tensor.shape }
        }
        return shapes
    }

    /// Every floating-point tensor of the files by name (integer buffers such as `position_ids` are skipped).
    ///
    /// `consume`, when given, sees each tensor as it is read and keeps it out of the result by
    /// returning true (a loader quantizing as it goes). The files' mapped pages are released every
    /// 256 MB read, so the pages of tensors already converted stop counting in the resident size.
    static func weights(of files: [SafetensorsFile], consume: ((String, Tensor) throws -> Bool)? = nil) throws -> [String: Tensor] {
        var state: [String: Tensor] = [:]
        do {
            for file in files {
                var readSinceRelease = 0
                for tensor in file.tensors where isFloat(tensor.dtype) {
                    let value = try Tensor.loading(tensor, from: file)
                    if try consume?(tensor.name, value) != true { state[tensor.name] = value }
                    readSinceRelease += tensor.dataRange.count
                    if readSinceRelease >= 256 << 20 {
                        file.mapping?.evictResidentPages()
                        readSinceRelease = 0
                    }
                }
                file.mapping?.evictResidentPages()
            }
        } catch let error as ModelFileError {
            throw ModelError.file(error)
        }
        return state
    }

    /// `values` under the names `rename` gives (entries it maps to nil are dropped).
    static func renamed<Value>(_ values: [String: Value], _ rename: (String) -> String?) -> [String: Value] {
        var result: [String: Value] = [:]
        for (name, value) in values { if let target = rename(name) { result[target] = value } }
        return result
    }

    private static func isFloat(_ dtype: SafetensorsDType) -> Bool { [.f32, .f16, .bf16, .f64].contains(dtype) }
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
