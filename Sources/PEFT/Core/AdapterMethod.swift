import ModelIO

/// The method an adapter configuration describes (`peft_type` in `adapter_config.json`). Each
/// method's folder declares its constant (`PeftType.lora`, `PeftType.loha` …).
public struct PeftType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The `peft_type` string (`LORA`).
    public let rawValue: String
    /// The type named `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The `peft_type` string.
    public var description: String { rawValue }
}

/// A PEFT method as the rest of PEFTKit sees it: its `peft_type`, how its configuration is read, and
/// how `peftkit train --method` builds one. Everything else a method does lives in its configuration
/// (`LayerAdapterConfiguration` or `PromptLearningConfiguration`) and its layer, in its own folder;
/// `AdapterMethods.all` lists the methods.
public struct AdapterMethod: Sendable {
    /// `peft_type`.
    public let peftType: PeftType
    /// Reads (without validating) a configuration of this method from its `adapter_config.json` object.
    public let readConfiguration: @Sendable (JSONValue) throws -> any AdapterConfiguration
    /// The `--method` names that build this method's configurations (LoRA: `lora`, `dora`, `rslora`).
    public let commandLine: [CommandLineVariant]

    /// One `--method` name.
    public struct CommandLineVariant: Sendable {
        /// The name (`dora`).
        public let name: String
        /// One line for `--help`.
        public let summary: String
        /// The options it reads, with their defaults and ranges.
        public let options: [AdapterOption]
        /// Builds the configuration from the options' values.
        public let make: @Sendable (AdapterOptionValues) throws -> any AdapterConfiguration

        /// A variant named `name`.
        public init(name: String, summary: String, options: [AdapterOption],
                    make: @escaping @Sendable (AdapterOptionValues) throws -> any AdapterConfiguration) {
            self.name = name
            self.summary = summary
            self.options = options
            self.make = make
        }
    }

    /// A method.
    public init(peftType: PeftType, readConfiguration: @escaping @Sendable (JSONValue) throws -> any AdapterConfiguration,
                commandLine: [CommandLineVariant]) {
        self.peftType = peftType
        self.readConfiguration = readConfiguration
        self.commandLine = commandLine
    }
}

/// The registry of methods: reading a configuration, `--method` and `--help` go through it.
public enum AdapterMethods {
    /// Every method, in the order `--help` lists them. Adding a method is one line here.
    public static let all: [AdapterMethod] = [.lora, .ia3, .promptTuning, .loha, .lokr, .vera, .adaLoRA]

    /// The method whose `peft_type` is `type`.
    public static func method(_ type: PeftType) -> AdapterMethod? { all.first { $0.peftType == type } }

    /// The command-line variant named `name` (`lora`, `dora`, `loha` …).
    public static func variant(named name: String) -> AdapterMethod.CommandLineVariant? {
        all.lazy.flatMap(\.commandLine).first { $0.name == name }
    }

    /// Every `--method` name, in order.
    public static var variantNames: [String] { all.flatMap { $0.commandLine.map(\.name) } }

    /// Every `peft_type` supported, for messages.
    public static var supportedTypes: [String] { all.map(\.peftType.rawValue) }
}

/// An option a method adds to `peftkit train` (`--rank`), declared once: its name, default, range and
/// help give the parser, the help text and `--config` keys.
public struct AdapterOption: Sendable, Equatable {
    /// What the option holds.
    public enum Kind: Sendable, Equatable {
        /// An integer in `range`.
        case integer(default: Int, range: ClosedRange<Int>)
        /// A finite number in `range`.
        case number(default: Double, range: ClosedRange<Double>)
    }

    /// The option's name without `--` (`rank`).
    public let name: String
    /// The value's placeholder in help (`R`).
    public let placeholder: String
    /// One line of help (its default is added).
    public let help: String
    /// Its type, default and range.
    public let kind: Kind

    /// An option.
    public init(name: String, placeholder: String, help: String, kind: Kind) {
        self.name = name
        self.placeholder = placeholder
        self.help = help
        self.kind = kind
    }

    /// The default as help shows it.
    public var defaultText: String {
        switch kind {
        case let .integer(value, _): return "\(value)"
        case let .number(value, _): return value == value.rounded() && abs(value) < 1e9 ? "\(Int(value))" : "\(value)"
        }
    }

    /// The same option with another default (VeRA's rank is 256).
    public func withDefault(_ value: Double) -> AdapterOption {
        switch kind {
        case let .integer(_, range): return AdapterOption(name: name, placeholder: placeholder, help: help, kind: .integer(default: Int(value), range: range))
        case let .number(_, range): return AdapterOption(name: name, placeholder: placeholder, help: help, kind: .number(default: value, range: range))
        }
    }
}

/// The values a command line gives a method's options, plus the settings every method shares.
public struct AdapterOptionValues: Sendable {
    /// `--targets` (nil: the model family's defaults).
    public var targets: TargetModules?
    /// `task_type`.
    public var taskType: String?
    /// `modules_to_save` (a classification head).
    public var modulesToSave: [String]?
    /// `base_model_name_or_path`.
    public var baseModelNameOrPath: String?
    /// The run's optimizer steps, for methods whose schedule spans the run (AdaLoRA's `total_step`).
    public var totalSteps: Int?
    /// Parsed option values by name; options not given are absent.
    public var given: [String: Double]

    /// Values for a command line.
    public init(targets: TargetModules? = nil, taskType: String? = "CAUSAL_LM", modulesToSave: [String]? = nil, baseModelNameOrPath: String? = nil,
                totalSteps: Int? = nil, given: [String: Double] = [:]) {
        self.totalSteps = totalSteps
        self.targets = targets
        self.taskType = taskType
        self.modulesToSave = modulesToSave
        self.baseModelNameOrPath = baseModelNameOrPath
        self.given = given
    }

    /// The value of `option`: given, or its default.
    public func number(_ option: AdapterOption) -> Double {
        if let value = given[option.name] { return value }
        switch option.kind {
        case let .integer(value, _): return Double(value)
        case let .number(value, _): return value
        }
    }

    /// The integer value of `option`.
    public func integer(_ option: AdapterOption) -> Int { Int(number(option)) }
}

extension AdapterOption {
    /// `--rank R`: the rank of low-rank methods.
    public static let rank = AdapterOption(name: "rank", placeholder: "R", help: "Rank r", kind: .integer(default: 8, range: 1...65_536))
    /// `--alpha A`: the scale numerator (scale α/r).
    public static let alpha = AdapterOption(name: "alpha", placeholder: "A", help: "Alpha (the update is scaled by alpha/r)",
                                            kind: .number(default: 8, range: 1e-6...1e6))
}
