/// Why an adapter could not be configured, attached, merged, saved or loaded. Every case names what
/// is wrong and where.
public enum PEFTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration value is missing or out of range.
    case invalidConfiguration(field: String, reason: String)
    /// `peft_type` names a method this library does not implement.
    case unsupportedMethod(String)
    /// No module of the model matches the configured targets; lists the linear layers there are.
    case noTargetModules(targets: String, linearModules: [String])
    /// A matched module is of a kind the method cannot wrap.
    case unsupportedTarget(path: String, type: String, method: String)
    /// An adapter with this name is already attached.
    case adapterExists(String)
    /// No adapter with this name is attached.
    case noSuchAdapter(String)
    /// An adapter file does not fit the model: every missing key, unexpected key and wrong shape.
    case adapterMismatch(path: String, problems: [String])
    /// An adapter folder or file could not be read or written.
    case file(path: String, reason: String)
    /// The operation needs the adapters unmerged (or merged) first, or a dense base weight.
    case invalidState(String)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .invalidConfiguration(field, reason): return "invalid adapter configuration '\(field)': \(reason)"
        case let .unsupportedMethod(name): return "unsupported peft_type '\(name)' (supported: \(AdapterMethods.supportedTypes.joined(separator: ", ")))"
        case let .noTargetModules(targets, modules):
            let shown = modules.prefix(12).joined(separator: ", ") + (modules.count > 12 ? ", … (\(modules.count) in all)" : "")
            return "target_modules \(targets) matched no module of the model; its linear modules are: \(modules.isEmpty ? "none" : shown)"
        case let .unsupportedTarget(path, type, method): return "module '\(path)' is a \(type), which \(method) cannot adapt"
        case let .adapterExists(name): return "an adapter named '\(name)' is already attached"
        case let .noSuchAdapter(name): return "no adapter named '\(name)' is attached"
        case let .adapterMismatch(path, problems):
            let shown = problems.prefix(12).joined(separator: "; ") + (problems.count > 12 ? "; … (\(problems.count) problems in all)" : "")
            return "adapter '\(path)' does not fit the model: \(shown)"
        case let .file(path, reason): return "\(path): \(reason)"
        case let .invalidState(message): return message
        }
    }
}
