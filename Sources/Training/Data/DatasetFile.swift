import Foundation
import ModelIO
import Tokenizers

/// Reads dataset files: a JSON array of records, or JSON Lines (one record per line; blank lines
/// are skipped). Each record is turned into a `DatasetRecord` of one format.
public enum DatasetFile {
    /// Largest dataset file read (bytes).
    public static let maximumBytes = 4 << 30

    /// The records of `url` with their line numbers (JSONL) or 1-based record numbers (JSON array).
    /// - Parameter format: the records' layout; `.automatic` takes it from the first record, and
    ///   every record must then have that layout.
    /// - Throws: `DatasetError` naming the line and the reason for the first bad record.
    public static func read(_ url: URL, format: DatasetFormat = .automatic) throws -> [(line: Int, record: DatasetRecord)] {
        let path = url.path
        let data: Data
        do {
            data = try InputFile.read(url, maximumBytes: maximumBytes, mapped: true)
        } catch let ModelFileError.unreadable(_, reason) {
            throw DatasetError.unreadable(path: path, reason: reason)
        }
        return try parse(data, path: path, format: format)
    }

    /// The records of a dataset file's bytes (`path` names it in errors). Each line's JSON becomes a
    /// record at once, so the parsed JSON of the whole file is never held.
    public static func parse(_ data: Data, path: String, format: DatasetFormat = .automatic) throws -> [(line: Int, record: DatasetRecord)] {
        var resolved = format
        var records: [(line: Int, record: DatasetRecord)] = []
        try forEachObject(data, path: path) { line, object in
            guard let members = object.members else {
                throw DatasetError.malformed(path: path, line: line, reason: "a record must be a JSON object")
            }
            if resolved == .automatic {
                guard let detected = DatasetFormat.detect(Set(members.map(\.key))) else {
                    throw DatasetError.unknownFormat(path: path, line: line, keys: members.map(\.key).sorted())
                }
                resolved = detected
            }
            records.append((line, try record(object, format: resolved, path: path, line: line)))
        }
        guard !records.isEmpty else { throw DatasetError.empty(path: path, reason: "the file holds no records") }
        return records
    }

    /// Calls `body` with each JSON value and its position: a top-level array's elements (numbered
    /// from 1), or one value per non-blank line (its line number).
    static func forEachObject(_ data: Data, path: String, _ body: (Int, JSONValue) throws -> Void) throws {
        // A UTF-8 byte-order mark (as some editors save) is not part of the JSON.
        let data = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data
        let firstByte = data.first { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }
        if firstByte == UInt8(ascii: "[") {
            let array: [JSONValue]
            do {
                guard let elements = try JSONValue.parse(data).array else { throw DatasetError.malformed(path: path, line: 1, reason: "expected an array") }
                array = elements
            } catch let error as JSONParseError {
                let line = data.prefix(error.offset).reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
                throw DatasetError.malformed(path: path, line: line, reason: error.description)
            }
            for (index, element) in array.enumerated() { try body(index + 1, element) }
            return
        }
        var lineNumber = 0
        var start = data.startIndex
        while start < data.endIndex {
            lineNumber += 1
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            let line = data[start..<end]
            start = end < data.endIndex ? end + 1 : end
            guard line.contains(where: { ![0x20, 0x09, 0x0D].contains($0) }) else { continue }
            let value: JSONValue
            do {
                value = try JSONValue.parse(Data(line))
            } catch let error as JSONParseError {
                throw DatasetError.malformed(path: path, line: lineNumber, reason: error.description)
            }
            try body(lineNumber, value)
        }
    }

    /// One record in `format`.
    static func record(_ object: JSONValue, format: DatasetFormat, path: String, line: Int) throws -> DatasetRecord {
        func string(_ field: String, optional: Bool = false) throws -> String? {
            guard let value = object[field], !value.isNull else {
                if optional { return nil }
                let state = object[field] == nil ? "is missing" : "is null"
                throw DatasetError.invalidField(path: path, line: line, field: field, reason: "\(state) (format \(format.rawValue) needs a string)")
            }
            guard let text = value.string else {
                throw DatasetError.invalidField(path: path, line: line, field: field, reason: "must be a string")
            }
            return text
        }
        switch format {
        case .automatic:
            preconditionFailure("resolved before")
        case .promptResponse:
            return .instruction(prompt: try string("prompt")!, response: try string("response")!, system: try string("system", optional: true))
        case .alpaca:
            let instruction = try string("instruction")!
            let input = try string("input", optional: true) ?? ""
            let prompt = input.isEmpty ? instruction : instruction + "\n\n" + input
            return .instruction(prompt: prompt, response: try string("output")!, system: try string("system", optional: true))
        case .completion:
            return .completion(prompt: try string("prompt")!, completion: try string("completion")!)
        case .text:
            return .text(try string("text")!)
        case .classification:
            let text = try string("text")!
            guard let value = object["label"], !value.isNull else {
                throw DatasetError.invalidField(path: path, line: line, field: "label", reason: "\(object["label"] == nil ? "is missing" : "is null") (format classification)")
            }
            if let name = value.string { return .classification(text: text, label: .name(name)) }
            if let number = value.number {
                guard let index = value.integer, index >= 0, Double(index) == number else {
                    throw DatasetError.invalidField(path: path, line: line, field: "label", reason: "must be a label name or a non-negative integer, got \(number)")
                }
                return .classification(text: text, label: .index(index))
            }
            throw DatasetError.invalidField(path: path, line: line, field: "label", reason: "must be a string or an integer")
        case .chat:
            guard let list = object["messages"]?.array else {
                throw DatasetError.invalidField(path: path, line: line, field: "messages", reason: "must be an array of {role, content} objects")
            }
            var messages: [ChatMessage] = []
            if let system = try string("system", optional: true) { messages.append(.system(system)) }
            for (index, entry) in list.enumerated() {
                guard let role = entry["role"]?.string, let content = entry["content"]?.string else {
                    throw DatasetError.invalidField(path: path, line: line, field: "messages[\(index)]", reason: "needs string fields 'role' and 'content'")
                }
                guard ["system", "user", "assistant"].contains(role) else {
                    throw DatasetError.invalidField(path: path, line: line, field: "messages[\(index)].role", reason: "must be system, user or assistant, got '\(role.prefix(40))'")
                }
                messages.append(ChatMessage(role: role, content: content))
            }
            guard messages.contains(where: { $0.role == "assistant" }) else {
                throw DatasetError.invalidField(path: path, line: line, field: "messages", reason: "has no assistant message to learn from")
            }
            return .chat(messages)
        }
    }
}
