import ModelIO

/// Typed reading of an `adapter_config.json` object: every getter names the field in its error, and
/// the keys nobody read are kept (`unreadMembers`) so a configuration round-trips unknown keys.
struct ConfigurationFields {
    private let members: [(key: String, value: JSONValue)]
    private var read: Set<String> = []

    init(_ json: JSONValue) throws {
        guard let members = json.members else {
            throw PEFTError.invalidConfiguration(field: "(root)", reason: "adapter_config.json must hold a JSON object")
        }
        self.members = members
    }

    /// The value of `key`, nil when absent or null.
    mutating func value(_ key: String) -> JSONValue? {
        read.insert(key)
        // The last of a repeated key wins, as in Python's `json` (peft reads the same file).
        guard let value = members.last(where: { $0.key == key })?.value, !value.isNull else { return nil }
        return value
    }

    mutating func integer(_ key: String, default fallback: Int) throws -> Int {
        guard let value = value(key) else { return fallback }
        guard let integer = value.integer else { throw PEFTError.invalidConfiguration(field: key, reason: "must be an integer") }
        return integer
    }

    mutating func number(_ key: String, default fallback: Double) throws -> Double {
        guard let value = value(key) else { return fallback }
        return try Self.finite(value, field: key)
    }

    /// A number that is finite (1e309 reads as infinity and is refused as too large).
    static func finite(_ value: JSONValue, field: String) throws -> Double {
        guard let number = value.number else { throw PEFTError.invalidConfiguration(field: field, reason: "must be a number, got \(value.kindName)") }
        guard number.isFinite else { throw PEFTError.invalidConfiguration(field: field, reason: "is too large for a 64-bit float (it reads as infinity)") }
        return number
    }

    mutating func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = value(key) else { return fallback }
        guard let bool = value.bool else { throw PEFTError.invalidConfiguration(field: key, reason: "must be true or false") }
        return bool
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let string = value.string else { throw PEFTError.invalidConfiguration(field: key, reason: "must be a string") }
        return string
    }

    mutating func strings(_ key: String) throws -> [String]? {
        guard let value = value(key) else { return nil }
        if let single = value.string { return [single] }
        guard let items = value.array, items.allSatisfy({ $0.string != nil }) else {
            throw PEFTError.invalidConfiguration(field: key, reason: "must be a list of strings")
        }
        return items.compactMap(\.string)
    }

    mutating func integers(_ key: String) throws -> [Int]? {
        guard let value = value(key) else { return nil }
        if let single = value.integer { return [single] }
        guard let items = value.array, items.allSatisfy({ $0.integer != nil }) else {
            throw PEFTError.invalidConfiguration(field: key, reason: "must be an integer or a list of integers")
        }
        return items.compactMap(\.integer)
    }

    /// An object of pattern → number, in file order.
    mutating func patternTable(_ key: String) throws -> [(pattern: String, value: Double)] {
        guard let value = value(key) else { return [] }
        guard let members = value.members else { throw PEFTError.invalidConfiguration(field: key, reason: "must be an object") }
        return try members.map { member in
            (member.key, try Self.finite(member.value, field: "\(key).\(member.key)"))
        }
    }

    /// The keys every method shares (`peft_type` is read by the dispatcher and marked here).
    mutating func header() throws -> (taskType: String?, baseModelNameOrPath: String?, inferenceMode: Bool) {
        _ = value("peft_type")
        return (try string("task_type"), try string("base_model_name_or_path"), try bool("inference_mode", default: false))
    }

    /// A `target_modules`-style field (list, pattern or `all-linear`).
    mutating func targets(_ key: String) throws -> TargetModules? {
        try value(key).map { try TargetModules(json: $0, field: key) }
    }

    /// Members no getter asked for, in file order.
    var unreadMembers: [(key: String, value: JSONValue)] { members.filter { !read.contains($0.key) } }
}

/// Builds the JSON object of a configuration: known fields, then the unknown ones kept from loading.
struct ConfigurationWriter {
    private(set) var members: [(key: String, value: JSONValue)] = []

    /// An empty object.
    init() {}

    /// Starts with the keys every method shares.
    init(header configuration: some AdapterConfiguration) {
        set("peft_type", configuration.peftType.rawValue)
        set("task_type", configuration.taskType)
        set("base_model_name_or_path", configuration.baseModelNameOrPath)
        set("inference_mode", configuration.inferenceMode)
    }

    mutating func set(_ key: String, _ value: JSONValue) { members.append((key, value)) }
    mutating func set(_ key: String, _ value: Int) { set(key, .number(Double(value))) }
    mutating func set(_ key: String, _ value: Double) { set(key, .number(value)) }
    mutating func set(_ key: String, _ value: Bool) { set(key, .bool(value)) }
    mutating func set(_ key: String, _ value: String?) { set(key, value.map { .string($0) } ?? .null) }
    mutating func set(_ key: String, _ value: [String]?) { set(key, value.map { .array($0.map { .string($0) }) } ?? .null) }
    mutating func set(_ key: String, _ value: TargetModules?) { set(key, value?.json ?? .null) }
    mutating func set(_ key: String, _ value: [Int]?) { set(key, value.map { .array($0.map { .number(Double($0)) }) } ?? .null) }
    /// A pattern table (`rank_pattern`), in order.
    mutating func set(_ key: String, _ table: [(pattern: String, value: Double)]) { set(key, .object(table.map { ($0.pattern, .number($0.value)) })) }

    /// The object, with `extra` members whose keys are not already present.
    func object(extra: [(key: String, value: JSONValue)]) -> JSONValue {
        let known = Set(members.map(\.key))
        return .object(members + extra.filter { !known.contains($0.key) })
    }
}
