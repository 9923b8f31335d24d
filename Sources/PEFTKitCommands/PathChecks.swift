import Foundation
import ModelIO

/// Checks on the paths a command reads and writes, before anything is loaded or written: a missing
/// input or one of the wrong kind, an empty output path, an output that is one of the run's inputs,
/// and (with `--overwrite`) anything PEFTKit did not write itself are refused by flag name, so a
/// slip of the keyboard cannot replace the current directory, a dataset or a stranger's folder.
enum PathChecks {
    /// The path given for `flag`, refused when empty.
    static func required(_ path: String, flag: String, command: String) throws -> URL {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw UsageError("\(command): --\(flag) is empty; give the path to write")
        }
        return URL(fileURLWithPath: path).standardizedFileURL
    }

    /// Refuses an output that is one of `inputs` or contains one of them, and (`currentDirectory`, for
    /// outputs that replace a whole folder) one that is or contains the current directory: replacing
    /// it would delete what the run reads, or where the user stands.
    static func refuseOverlap(_ output: URL, flag: String, inputs: [(flag: String, path: String)], currentDirectory: Bool = true,
                              command: String) throws {
        let target = output.resolvingSymlinksInPath().path
        func isInside(_ path: String, _ folder: String) -> Bool { path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") }
        let current = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).resolvingSymlinksInPath().path
        if currentDirectory && isInside(current, target) {
            throw UsageError("\(command): --\(flag) \(output.path) is the current directory or contains it; choose a new folder")
        }
        for input in inputs {
            let path = URL(fileURLWithPath: input.path).standardizedFileURL.resolvingSymlinksInPath().path
            if isInside(path, target) {
                throw UsageError("\(command): --\(flag) \(output.path) overlaps --\(input.flag) \(input.path); choose another path")
            }
        }
    }

    /// Refuses an existing `output` that is not a folder (a file, a device, a FIFO); a symbolic link to
    /// a folder is written through.
    static func refuseNonFolder(_ output: URL, flag: String, command: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output.path, isDirectory: &isFolder), !isFolder.boolValue else { return }
        throw UsageError("\(command): --\(flag) \(output.path) exists and is not a folder; give a folder to write into")
    }

    /// Refuses an output file path that is an existing folder (or a link to one).
    static func refuseFolder(_ output: URL, flag: String, command: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output.path, isDirectory: &isFolder), isFolder.boolValue else { return }
        throw UsageError("\(command): --\(flag) \(output.path) is a folder; give a file path")
    }

    /// Refuses an input path that does not exist, or is a folder where a file belongs (`folder:
    /// false`) or a file where a folder belongs (`folder: true`).
    static func requireInput(_ path: String, flag: String, folder: Bool, command: String) throws {
        var isFolder: ObjCBool = false
        guard !path.isEmpty else { throw UsageError("\(command): --\(flag) is empty; give a path") }
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw UsageError("\(command): --\(flag) \(path): no such \(folder ? "folder" : "file")")
        }
        if isFolder.boolValue != folder {
            throw UsageError("\(command): --\(flag) \(path) is a \(isFolder.boolValue ? "folder" : "file"); give a \(folder ? "folder" : "file")")
        }
    }

    /// Refuses a `--model` that is neither a folder nor a GGUF file (a dataset given by mistake is
    /// named as such instead of failing deep inside a parser).
    static func requireModel(_ path: String, command: String) throws {
        var isFolder: ObjCBool = false
        guard !path.isEmpty else { throw UsageError("\(command): --model is empty; give a model folder or a GGUF file") }
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw UsageError("\(command): --model \(path): no such file or folder")
        }
        guard !isFolder.boolValue else { return }
        guard !GGUFFile.hasMagic(URL(fileURLWithPath: path)) else { return }
        throw UsageError("\(command): --model \(path) is not a model: give a Hugging Face folder (config.json and safetensors weights) or a GGUF file")
    }

    /// With `--overwrite`, an existing `output` may be replaced only when it is a folder holding a
    /// model PEFTKit wrote (`config.json` and safetensors weights); a file, or a folder of anything
    /// else, is refused with what was found.
    static func refuseForeignModelFolder(_ output: URL, flag: String, command: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output.path, isDirectory: &isFolder) else { return }
        guard isFolder.boolValue else {
            throw UsageError("\(command): --\(flag) \(output.path) is a file (or device or FIFO), not a model folder; --overwrite replaces only a folder PEFTKit wrote")
        }
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? [])
        let hasWeights = names.contains("model.safetensors") || names.contains("model.safetensors.index.json")
        guard names.contains("config.json") && hasWeights else {
            throw UsageError("\(command): --\(flag) \(output.path) does not hold a model folder (config.json and model.safetensors); "
                             + "--overwrite replaces only a folder PEFTKit wrote")
        }
    }
}
