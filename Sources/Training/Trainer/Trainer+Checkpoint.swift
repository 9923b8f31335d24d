import Foundation
import ModelIO
import Models
import NN
import PEFT
import Tensors

/// The file a checkpoint's bookkeeping lives in.
struct CheckpointManifest: Codable {
    /// Layout version.
    var format = 1
    var state: TrainerState
    var arguments: TrainingArguments
    var optimizerKind: String
    var optimizerCounters: [String: Int]
    /// Dropout generators by module path.
    var generators: [String: SeededRandom]
    /// Callback states by key.
    var callbacks: [String: JSONValue]
    /// What must match for a resume.
    var fingerprint: [String: String]
    /// Whether `best_trainable.safetensors` holds the best weights.
    var hasBestWeights: Bool
    /// The SHA-256 of every other file of the checkpoint, by name (absent in checkpoints written
    /// before checksums were recorded).
    var files: [String: String]?
}

extension Trainer {
    static let manifestName = "trainer_state.json"
    static let trainableName = "trainable.safetensors"
    static let bestName = "best_trainable.safetensors"
    static let optimizerName = "optimizer.safetensors"
    /// The adapter method's own training state (AdaLoRA's importance averages and rank masks).
    static let methodStateName = "method_state.safetensors"
    static let checkpointPrefix = "checkpoint-"

    /// What a checkpoint must agree on to be resumed by this trainer.
    var fingerprint: [String: String] {
        let shapes = model.trainableParameters().map { "\($0.path)\($0.parameter.shape)" }.joined(separator: ";")
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in shapes.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0100_0000_01B3 }
        // The frozen base: names, shapes and a sample of values of every frozen tensor, so a
        // checkpoint of another model of the same architecture is refused too.
        var base: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ value: UInt64) { base = (base ^ value) &* 0x0100_0000_01B3 }
        for (path, parameter) in model.module.namedParameters() where !parameter.requiresGrad {
            for byte in path.utf8 { mix(UInt64(byte)) }
            parameter.shape.forEach { mix(UInt64($0)) }
            parameter.value.withUnsafeBufferPointer { values in  // 64 values spread over the tensor
                for index in stride(from: 0, to: values.count, by: max(1, values.count / 64)) { mix(UInt64(values[index].bitPattern)) }
            }
        }
        // Packed (quantized) weights: path, format, shape and 64 bytes spread over the blocks.
        for (path, matrix) in model.module.namedPackedParameters() {
            for byte in (path + matrix.format.rawValue).utf8 { mix(UInt64(byte)) }
            matrix.shape.forEach { mix(UInt64($0)) }
            matrix.withUnsafeBytes { bytes in
                for index in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 64)) { mix(UInt64(bytes[index])) }
            }
        }
        let schedule = "learning rate \(arguments.learningRate), warm-up \(arguments.warmupSteps) steps / ratio \(arguments.warmupRatio), \(arguments.schedule)"
        let update = "weight decay \(arguments.weightDecay), betas \(arguments.adamBeta1)/\(arguments.adamBeta2), epsilon \(arguments.adamEpsilon), "
            + "momentum \(arguments.sgdMomentum), clipping \(arguments.maxGradientNorm.map { String($0) } ?? "off")"
        return model.functionSettings.merging([
            "objective": "cross-entropy" + ((arguments.klAnchor ?? 0) > 0 ? " + \(arguments.klAnchor!) · KL to the base" : ""),
            "learning-rate schedule": schedule,
            "optimizer settings": update,
            "base model": String(base, radix: 16),
            "trainable tensors": String(hash, radix: 16) + " (\(model.trainableParameters().count) tensors)",
            "training data": trainDataset.fingerprint + " (\(trainDataset.count) examples)",
            "batch size": String(arguments.batchSize),
            "gradient accumulation": String(arguments.gradientAccumulationSteps),
            "seed": String(arguments.seed),
            "data order": "shuffle=\(arguments.shuffle) group_by_length=\(arguments.groupByLength) packing=\(arguments.packing ? String(packedRowLength) : "off")",
            "optimizer": optimizer.stateDictionary().kind,
        ]) { adapter, _ in adapter }
    }

    /// Settings added to the fingerprint after checkpoints were first written: a checkpoint that
    /// predates them is not refused for lacking them.
    static func isNewerSetting(_ key: String) -> Bool {
        key.hasPrefix("adapter ") || key == "learning-rate schedule" || key == "optimizer settings" || key == "objective"
    }

    /// Dropout generators by module path (their state is part of the run).
    var dropoutLayers: [(path: String, layer: Dropout)] {
        model.module.namedModules().compactMap { entry in (entry.module as? Dropout).map { (entry.path, $0) } }
    }

    // MARK: Saving

    /// Writes `checkpoint-<step>` in the output folder: the trained weights in their usable form, every
    /// trainable tensor, the optimizer state, and the bookkeeping (step, data cursor, generators, logs,
    /// callback states). The folder is written under a temporary name and renamed when complete, so
    /// an interrupted save never damages or impersonates a checkpoint. Older checkpoints beyond
    /// `saveTotalLimit` (except the best) are removed.
    @discardableResult
    public func saveCheckpoint() throws -> URL {
        guard let output = outputURL else { throw TrainingError.invalidArgument(name: "outputDirectory", reason: "checkpoints need an output folder") }
        let name = Self.checkpointPrefix + String(state.step)
        let final = output.appendingPathComponent(name)
        let partial = output.appendingPathComponent(".\(name).partial-\(UUID().uuidString)")
        let files = FileManager.default
        do {
            try files.createDirectory(at: partial, withIntermediateDirectories: true)
            try model.saveTrained(to: partial)
            try writeLabelMap(to: partial)
            let trainable = model.trainableParameters()
            try Self.writeTensors(trainable.map { ($0.path, $0.parameter.value) }, to: partial.appendingPathComponent(Self.trainableName))
            if let best = bestWeights { try Self.writeTensors(best.map { ($0.key, $0.value) }, to: partial.appendingPathComponent(Self.bestName)) }
            let optimizerState = optimizer.stateDictionary()
            try Self.writeTensors(optimizerState.tensors.map { ($0.key, $0.value) }, to: partial.appendingPathComponent(Self.optimizerName))
            if let methodState = model.trainingHooks?.checkpointState(), !methodState.isEmpty {
                try Self.writeTensors(methodState.map { ($0.key, $0.value) }, to: partial.appendingPathComponent(Self.methodStateName))
            }
            var callbackStates: [String: JSONValue] = [:]
            for callback in callbacks { if let saved = callback.checkpointState() { callbackStates[callback.checkpointKey] = saved } }
            let manifest = CheckpointManifest(
                state: state, arguments: arguments, optimizerKind: optimizerState.kind, optimizerCounters: optimizerState.counters,
                generators: Dictionary(dropoutLayers.map { ($0.path, $0.layer.generator) }, uniquingKeysWith: { a, _ in a }),
                callbacks: callbackStates, fingerprint: fingerprint, hasBestWeights: bestWeights != nil,
                files: try OutputFolder.checksums(of: partial, excluding: Self.manifestName))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(encoder.encode(manifest), to: partial.appendingPathComponent(Self.manifestName))
            // Publish: the complete folder takes the checkpoint's name in one rename.
            try FolderPublishing.publish(partial, as: final)
        } catch {
            try? files.removeItem(at: partial)
            throw Self.checkpointWriteError(error, partial: partial, final: final)
        }
        try rotateCheckpoints(in: output)
        callbacks.forEach { $0.onSave(self, checkpoint: final) }
        return final
    }

    /// A failure while writing checkpoint `final`, naming the file by its place in the finished
    /// checkpoint (not the hidden folder it was assembled in).
    static func checkpointWriteError(_ error: Error, partial: URL, final: URL) -> TrainingError {
        var detail = "\(error)"
        switch error {
        case let ModelFileError.unwritable(path, reason), let PEFTError.file(path, reason), let TrainingError.file(path, reason):
            let name = path.hasPrefix(partial.path + "/") ? String(path.dropFirst(partial.path.count + 1)) : URL(fileURLWithPath: path).lastPathComponent
            detail = "\(final.appendingPathComponent(name).path): \(reason.hasPrefix("cannot") ? "" : "cannot be written: ")\(reason)"
        default: break
        }
        return .file(path: final.path, reason: "cannot write the checkpoint (earlier checkpoints are unchanged): \(detail)")
    }

    static func writeTensors(_ tensors: [(String, Tensor)], to url: URL) throws {
        let entries = tensors.sorted { $0.0 < $1.0 }.map { $0.1.safetensorsEntry(named: $0.0) }
        try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: url)
    }

    /// Keeps the newest `saveTotalLimit` checkpoints and the best one; removes leftovers of
    /// interrupted saves.
    func rotateCheckpoints(in output: URL) throws {
        let all = Self.checkpoints(in: output)
        if let limit = arguments.saveTotalLimit, all.count > limit {
            let keep = Set(all.suffix(limit).map(\.step) + (state.bestStep.map { [$0] } ?? []))
            for (step, url) in all where !keep.contains(step) { try? OutputFolder.retire(url) }
        }
        OutputFolder.removeLeftovers(in: output)
    }

    /// Complete checkpoints in `output`, oldest first.
    public static func checkpoints(in output: URL) -> [(step: Int, url: URL)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasPrefix(checkpointPrefix), let step = Int(name.dropFirst(checkpointPrefix.count)) else { return nil }
            let url = output.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent(manifestName).path) else { return nil }
            return (step, url)
        }.sorted { $0.0 < $1.0 }
    }

    /// Refuses to write into a folder holding earlier results unless overwriting is allowed (then
    /// its old checkpoints are removed, so a later resume cannot pick them up). Leftovers of
    /// interrupted writes are removed; the metrics of a run that ended before any result are moved
    /// aside (they are not results), so the folder can be used again without `--overwrite`.
    func prepareOutput(_ output: URL) throws {
        let files = FileManager.default
        OutputFolder.removeLeftovers(in: output)
        let names = (try? files.contentsOfDirectory(atPath: output.path)) ?? []
        let results = names.filter { $0.hasPrefix(Self.checkpointPrefix) || ["adapter_config.json", "adapter_model.safetensors", "model.safetensors"].contains($0) }
        if !results.isEmpty {
            guard arguments.overwriteOutput else { throw TrainingError.outputExists(path: output.path) }
            for name in names where name.hasPrefix(Self.checkpointPrefix) { try? OutputFolder.retire(output.appendingPathComponent(name)) }
        } else if !arguments.overwriteOutput {
            do { try OutputFolder.moveMetricsAside(in: output) } catch {
                throw TrainingError.file(path: output.path, reason: "cannot move the earlier run's metrics aside: \(InputFile.systemReason(of: error))")
            }
        }
        do {
            try files.createDirectory(at: output, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.file(path: output.path, reason: "cannot create the output folder: \(InputFile.systemReason(of: error))")
        }
    }

    /// `label_map.json` (`id2label`, `label2id`) for classification runs.
    func writeLabelMap(to folder: URL) throws {
        guard case let .classification(labels) = trainDataset.task else { return }
        let id2label = JSONValue.object(labels.enumerated().map { (String($0.offset), JSONValue.string($0.element)) })
        let label2id = JSONValue.object(labels.enumerated().map { ($0.element, JSONValue.number(Double($0.offset))) })
        let text = JSONValue.object([("id2label", id2label), ("label2id", label2id)]).prettyPrinted() + "\n"
        do {
            try AtomicFile.write(Data(text.utf8), to: folder.appendingPathComponent("label_map.json"))
        } catch {
            throw TrainingError.file(path: folder.path, reason: "cannot write label_map.json: \(error)")
        }
    }

    // MARK: Resuming

    /// Restores weights, optimizer, generators, data cursor, logs and callback states from
    /// `checkpoint` (a `checkpoint-N` folder, or an output folder: its newest checkpoint). Everything
    /// is read and checked before anything changes.
    public func resume(from checkpoint: URL) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint.path, isDirectory: &isFolder) else {
            throw TrainingError.incompatibleCheckpoint(path: checkpoint.path, reason: "no such folder")
        }
        guard isFolder.boolValue else {
            throw TrainingError.incompatibleCheckpoint(path: checkpoint.path, reason: "it is a file; give a checkpoint-N folder or the run's output folder")
        }
        var folder = checkpoint
        if !FileManager.default.fileExists(atPath: folder.appendingPathComponent(Self.manifestName).path) {
            guard let newest = Self.checkpoints(in: folder).last else {
                throw TrainingError.incompatibleCheckpoint(path: checkpoint.path, reason: "no \(Self.manifestName) here and no complete checkpoint-N folder inside")
            }
            folder = newest.url
        }
        let manifest: CheckpointManifest
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: InputFile.read(folder.appendingPathComponent(Self.manifestName)))
        } catch let error as DecodingError {
            throw TrainingError.damagedCheckpoint(path: folder.path, reason: "\(Self.manifestName): \(Self.describe(error))")
        } catch {
            throw TrainingError.damagedCheckpoint(path: folder.path, reason: "\(Self.manifestName) is unreadable: \(error)")
        }
        guard manifest.format == 1 else { throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: "layout version \(manifest.format) is not supported") }
        if let files = manifest.files, let problem = OutputFolder.firstMismatch(in: folder, checksums: files) {
            let older = Self.checkpoints(in: folder.deletingLastPathComponent()).filter { $0.url.lastPathComponent != folder.lastPathComponent }.last
            throw TrainingError.damagedCheckpoint(path: folder.path, reason: problem + (older.map { "; resume from \($0.url.path) instead" } ?? ""))
        }
        let current = fingerprint
        // A setting added after a checkpoint was written: its value then, where there was only one.
        let recorded = { (key: String) in manifest.fingerprint[key] ?? (key == "objective" ? "cross-entropy" : nil) }
        let differences = current.keys.sorted().filter {
            recorded($0) != current[$0] && !(recorded($0) == nil && Self.isNewerSetting($0))
        }.map {
            "\($0): checkpoint \(recorded($0) ?? "(none)"), this run \(current[$0]!)"
        }
        guard differences.isEmpty else {
            throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: differences.joined(separator: "; "))
        }
        let trainable = try Self.readTensors(folder.appendingPathComponent(Self.trainableName), checkpoint: folder)
        let best = manifest.hasBestWeights ? try Self.readTensors(folder.appendingPathComponent(Self.bestName), checkpoint: folder) : nil
        let optimizerTensors = try Self.readTensors(folder.appendingPathComponent(Self.optimizerName), checkpoint: folder)
        let hooks = model.trainingHooks
        let methodStateURL = folder.appendingPathComponent(Self.methodStateName)
        let methodState = hooks != nil && FileManager.default.fileExists(atPath: methodStateURL.path)
            ? try Self.readTensors(methodStateURL, checkpoint: folder) : [:]
        let parameters = model.trainableParameters()
        for (path, parameter) in parameters {
            guard let value = trainable[path], value.shape == parameter.shape else {
                throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: "trainable tensor '\(path)' \(parameter.shape) is missing or has another shape")
            }
            guard value.isFinite else { throw TrainingError.damagedCheckpoint(path: folder.path, reason: "'\(path)' holds non-finite values") }
        }
        let layers = dropoutLayers
        for (path, _) in layers where manifest.generators[path] == nil {
            throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: "no generator state for dropout '\(path)'")
        }
        guard manifest.state.step <= state.totalSteps || arguments.maxSteps == nil else {
            throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: "it is at step \(manifest.state.step), beyond this run's \(state.totalSteps) steps")
        }
        // Everything checked: apply.
        do { try hooks?.restoreCheckpointState(methodState) } catch {
            throw TrainingError.incompatibleCheckpoint(path: folder.path, reason: "\(Self.methodStateName): \(error)")
        }
        try optimizer.loadStateDictionary(OptimizerState(kind: manifest.optimizerKind, tensors: optimizerTensors, counters: manifest.optimizerCounters))
        for (path, parameter) in parameters { parameter.value = trainable[path]! }
        for (path, layer) in layers { layer.generator = manifest.generators[path]! }
        for callback in callbacks { if let saved = manifest.callbacks[callback.checkpointKey] { try callback.restore(checkpointState: saved) } }
        let totalSteps = state.totalSteps, batchesPerEpoch = state.batchesPerEpoch
        state = manifest.state
        state.totalSteps = totalSteps
        state.batchesPerEpoch = batchesPerEpoch
        bestWeights = best
    }

    /// A decoding error in words: the field's path and what was wrong.
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the file" : "'" + keys.joined(separator: ".").replacingOccurrences(of: ".[", with: "[") + "'"
        }
        switch error {
        case let .keyNotFound(key, context): return "\(path(context)) lacks the field '\(key.stringValue)'"
        case let .typeMismatch(type, context): return "\(path(context)) is not \(Self.typeName(type))"
        case let .valueNotFound(type, context): return "\(path(context)) is null where \(Self.typeName(type)) belongs"
        case let .dataCorrupted(context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type, is Double.Type, is Float.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "the expected kind of value (\(type))"
        }
    }

    static func readTensors(_ url: URL, checkpoint: URL) throws -> [String: Tensor] {
        do {
            let file = try SafetensorsFile(contentsOf: url)
            var tensors: [String: Tensor] = [:]
            for tensor in file.tensors { tensors[tensor.name] = Tensor(try file.floats(of: tensor), shape: tensor.shape) }
            return tensors
        } catch {
            throw TrainingError.damagedCheckpoint(path: checkpoint.path, reason: "\(url.lastPathComponent): \(error)")
        }
    }
}
