import PEFT

/// `train`'s adapter options, derived from the method registry: `--method` names, each method's
/// options (parsed with their declared defaults and ranges) and their help.
enum AdapterOptions {
    /// Every option some method reads.
    static var names: Set<String> { Set(AdapterMethods.all.flatMap(\.commandLine).flatMap(\.options).map(\.name)) }

    /// `--method`, `--targets` and every method's options, as declared by the registry: each
    /// option's help says the default of each method that reads it.
    static var declarations: [CommandOption] {
        let variants = AdapterMethods.all.flatMap(\.commandLine)
        let methods = "The method (default lora):\n" + variants.map { "  " + $0.name.padding(toLength: 8, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n")
        var options = [
            CommandOption("method", "NAME", methods, .choice(default: "lora", among: AdapterMethods.variantNames), defaultDescription: ""),
            CommandOption("targets", "LIST", "q_proj,v_proj | all-linear | a regular expression", .text, defaultDescription: "the family's, e.g. q_proj,v_proj"),
        ]
        var seen: [String] = []
        for declaration in variants.flatMap(\.options) where !seen.contains(declaration.name) {
            seen.append(declaration.name)
            // The methods reading it, grouped by default.
            var byDefault: [(text: String, methods: [String])] = []
            for variant in variants {
                guard let own = variant.options.first(where: { $0.name == declaration.name }) else { continue }
                if let index = byDefault.firstIndex(where: { $0.text == own.defaultText }) { byDefault[index].methods.append(variant.name) }
                else { byDefault.append((own.defaultText, [variant.name])) }
            }
            let defaults = byDefault.count == 1
                ? "default \(byDefault[0].text); \(byDefault[0].methods.joined(separator: ", "))"
                : "default " + byDefault.map { "\($0.text) for \($0.methods.joined(separator: ", "))" }.joined(separator: ", ")
            options.append(CommandOption(declaration, help: "\(declaration.help) (\(defaults))"))
        }
        return options
    }

    /// The chosen `--method`.
    static func variant(_ parsed: ParsedArguments, command: String) throws -> AdapterMethod.CommandLineVariant {
        let name = try parsed.choice("method", command: command, default: "lora", among: AdapterMethods.variantNames)
        return AdapterMethods.variant(named: name)!
    }

    /// The values of `variant`'s options on the command line, each checked against its declaration.
    static func values(_ parsed: ParsedArguments, variant: AdapterMethod.CommandLineVariant, command: String) throws -> [String: Double] {
        var given: [String: Double] = [:]
        for declaration in variant.options where parsed.value(declaration.name) != nil {
            switch declaration.kind {
            case let .integer(value, range):
                given[declaration.name] = Double(try parsed.integer(declaration.name, command: command, default: value, minimum: range.lowerBound,
                                                                    maximum: range.upperBound))
            case let .number(value, range):
                given[declaration.name] = try parsed.double(declaration.name, command: command, default: value, range: range)
            }
        }
        return given
    }

    /// Adapter options given that `variant` does not read, one warning each.
    static func unused(_ parsed: ParsedArguments, variant: AdapterMethod.CommandLineVariant) -> [String] {
        let read = Set(variant.options.map(\.name))
        return names.subtracting(read).sorted().filter { parsed.value($0) != nil }.map { "--\($0) does nothing with --method \(variant.name)" }
    }
}
