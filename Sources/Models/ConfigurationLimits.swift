import ModelIO

/// Upper bounds every architecture's sizes must respect, so a hostile `config.json` or GGUF field
/// (2³¹, 2⁴⁰ …) is a typed error before anything is allocated or multiplied.
enum ConfigurationLimits {
    /// Vocabulary and position-table rows.
    static let rows = 1 << 24
    /// Hidden, head and feed-forward widths.
    static let width = 1 << 20
    /// Layers and heads.
    static let count = 4096

    /// Throws `ModelError.invalidConfiguration` naming `field` unless `value` is in `range`.
    static func require(_ value: Int, in range: ClosedRange<Int>, _ field: String) throws {
        guard range.contains(value) else {
            throw ModelError.invalidConfiguration(field: field, reason: "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
    }
}

extension JSONValue {
    /// An integer field of a `config.json`; the error says whether it is missing, not an integer, or
    /// too large to be one.
    func configurationInteger(_ key: String, default fallback: Int? = nil) throws -> Int {
        guard let value = self[key], !value.isNull else {
            if let fallback { return fallback }
            throw ModelError.invalidConfiguration(field: key, reason: "missing")
        }
        if let integer = value.integer { return integer }
        if let number = value.number, number.rounded() == number {
            throw ModelError.invalidConfiguration(field: key, reason: "\(number) is too large")
        }
        throw ModelError.invalidConfiguration(field: key, reason: "not an integer")
    }
}
