import Foundation
import PEFT
@testable import PEFTKitCommands
import Testing

/// `train`'s options are declared once (issue 27, defect 8): the help, the parser and `--config`
/// come from the declarations, and the adapter options' defaults are the library's.
@Suite("option declarations")
struct OptionDeclarationTests {
    @Test("every declared option is in --help exactly once, and every option --help shows is one the parser accepts")
    func helpMatchesParser() throws {
        let help = TrainCommand.help
        let declared = TrainCommand.declarations
        for option in declared.all {
            let lines = help.split(separator: "\n").filter { $0.hasPrefix("  --\(option.name) ") || $0 == "  --\(option.name)" }
            #expect(lines.count == 1, "--\(option.name) appears \(lines.count) times")
        }
        let shown = help.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  --") else { return nil }
            return String(line.dropFirst(4).prefix { $0 != " " })
        }
        for name in shown where name != "help" {
            #expect(declared.valueNames.contains(name) || declared.flagNames.contains(name), "--help shows --\(name), which the parser refuses")
        }
    }

    @Test("the default --help states is the value the parser gives when the option is absent")
    func statedDefaultsAreApplied() throws {
        let declared = TrainCommand.declarations
        let parsed = try declared.parse([], command: "train")
        for option in declared.all {
            switch option.kind {
            case let .integer(value?, _): #expect(try parsed.integer(option, command: "train") == value)
            case let .number(value?, _): #expect(try parsed.number(option, command: "train") == value)
            case let .choice(value, among): #expect(try parsed.choice(option, command: "train") == value && among.contains(value))
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
