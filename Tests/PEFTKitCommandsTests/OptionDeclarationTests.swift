import Foundation
import PEFT
@testable import PEFTKitCommands
import Testing

/// `train`'s options are declared once (issue 27, defect 8): the help, the parser and `--config`
/// come from the declarations, and the adapter options' defaults are the library's.
@Suite("option declarations")
struct OptionDeclarationTests {
    static let commands: [(name: String, help: String, declarations: CommandOptions)] = [
        ("train", TrainCommand.help, TrainCommand.declarations), ("eval", EvalCommand.help, EvalCommand.declarations),
        ("generate", GenerateCommand.help, GenerateCommand.declarations), ("merge", MergeCommand.help, MergeCommand.declarations),
        ("inspect", InspectCommand.help, InspectCommand.declarations), ("tokenize", TokenizeCommand.help, TokenizeCommand.declarations),
        ("export", ExportCommand.help, ExportCommand.declarations), ("serve", ServeCommand.help, ServeCommand.declarations),
    ]

    @Test("every declared option is in --help exactly once, and every option --help shows is one the parser accepts",
          arguments: commands.map(\.name))
    func helpMatchesParser(_ command: String) throws {
        let (_, help, declared) = Self.commands.first { $0.name == command }!
        for option in declared.all {
            let lines = help.split(separator: "\n").filter { $0.hasPrefix("  --\(option.name) ") || $0 == "  --\(option.name)" }
            #expect(lines.count == 1, "\(command) --\(option.name) appears \(lines.count) times")
        }
        let shown = help.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  --") else { return nil }
            return String(line.dropFirst(4).prefix { $0 != " " })
        }
        for name in shown where name != "help" {
            #expect(declared.valueNames.contains(name) || declared.flagNames.contains(name), "\(command) --help shows --\(name), which the parser refuses")
        }
    }

    @Test("the default --help states is the value the parser gives when the option is absent", arguments: commands.map(\.name))
    func statedDefaultsAreApplied(_ command: String) throws {
        let declared = Self.commands.first { $0.name == command }!.declarations
        let parsed = try declared.parse([], command: command)
        for option in declared.all {
            switch option.kind {
            case let .integer(value?, _): #expect(try parsed.integer(option, command: command) == value)
            case let .number(value?, _): #expect(try parsed.number(option, command: command) == value)
            case let .choice(value, among): #expect(try parsed.choice(option, command: command) == value && among.contains(value))
            default: break
            }
        }
    }

    @Test("each method's command-line defaults are its library configuration's (the CLI's --alpha once said 16, LoRAConfig 8)")
    func adapterDefaultsAreTheLibrarys() throws {
        for method in AdapterMethods.all {
          for variant in method.commandLine {
            // The configuration a file naming only its peft_type reads as: PEFT's defaults.
            let fromDefaults = try method.readConfiguration(.object([("peft_type", .string(method.peftType.rawValue))])).json
            for option in variant.options {
                let keys = ["rank": ["r", "init_r"], "alpha": ["lora_alpha", "alpha"], "dropout": ["lora_dropout", "vera_dropout"],
                            "rank-dropout": ["rank_dropout"], "module-dropout": ["module_dropout"], "target-rank": ["target_r"],
                            "virtual-tokens": ["num_virtual_tokens"]][option.name] ?? []
                // Prompt tuning's num_virtual_tokens has no default in PEFT (it must be given): 20 is the CLI's.
                guard option.name != "virtual-tokens", let value = keys.lazy.compactMap({ fromDefaults[$0]?.number }).first else { continue }
                #expect("\(value == value.rounded() ? "\(Int(value))" : "\(value)")" == option.defaultText, "\(variant.name) --\(option.name)")
            }
          }
        }
        #expect(LoRAConfig().alpha == 8 && LoRAConfig().dropout == 0)
        #expect(TrainCommand.help.contains("--alpha A") && TrainCommand.help.contains("(default 8;"))
    }
}
