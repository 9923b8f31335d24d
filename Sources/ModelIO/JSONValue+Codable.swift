import Foundation

extension JSONValue: Codable {
    /// Decodes any JSON value (object members sorted by key: `Decoder` does not keep file order).
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Double.self) { self = .number(value); return }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        if let value = try? container.decode([JSONValue].self) { self = .array(value); return }
        if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
            return
        }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
    }

    /// Encodes the value for `Codable`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(values): try container.encode(values)
        case let .object(members):
            try container.encode(Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }))
        }
    }
}

extension JSONValue {
    /// Serialises the value over several lines the way Python's `json.dumps(value, indent: 2,
    /// sort_keys=True)` does (the layout of Hugging Face's configuration files).
    public func prettyPrinted(indent: Int = 2, sortKeys: Bool = true) -> String {
        var out = ""
        writePretty(into: &out, level: 0, indent: indent, sortKeys: sortKeys)
        return out
    }

    private func writePretty(into out: inout String, level: Int, indent: Int, sortKeys: Bool) {
        let pad = String(repeating: " ", count: (level + 1) * indent), closing = String(repeating: " ", count: level * indent)
        switch self {
        case let .array(items) where !items.isEmpty:
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                item.writePretty(into: &out, level: level + 1, indent: indent, sortKeys: sortKeys)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += closing + "]"
        case let .object(members) where !members.isEmpty:
            let ordered = sortKeys ? members.sorted { $0.key < $1.key } : members
            out += "{\n"
            for (i, member) in ordered.enumerated() {
                out += pad
                JSONValue.writeString(member.key, into: &out)
                out += ": "
                member.value.writePretty(into: &out, level: level + 1, indent: indent, sortKeys: sortKeys)
                out += i + 1 < ordered.count ? ",\n" : "\n"
            }
            out += closing + "}"
        default:
            out += serialized()
        }
    }
}
