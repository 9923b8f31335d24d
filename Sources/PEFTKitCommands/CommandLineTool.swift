import Foundation

/// Where a command writes: standard output for results, standard error for diagnostics.
public struct CommandOutput: Sendable {
    /// Receives results.
    public var standardOutput: @Sendable (String) -> Void
    /// Receives diagnostics and progress.
    public var standardError: @Sendable (String) -> Void

    /// Output to the given sinks.
    public init(standardOutput: @escaping @Sendable (String) -> Void, standardError: @escaping @Sendable (String) -> Void) {
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// The process's real standard output and error.
    public static let console = CommandOutput(
        standardOutput: { FileHandle.standardOutput.write(Data($0.utf8)) },
        standardError: { FileHandle.standardError.write(Data($0.utf8)) })
}

/// The `peftkit` command-line tool. `run` returns the process exit status:
/// 0 success, 1 a failure while working (unreadable model, invalid input data), 2 a usage error.
public enum CommandLineTool {
    /// Whether `train` stops after the current step on Ctrl-C and saves a checkpoint. The `peftkit`
    /// executable turns it on; in-process callers (tests, apps) keep their own SIGINT handling.
    nonisolated(unsafe) public static var handlesInterrupt = false

    static let usage = """
    peftkit — parameter-efficient fine-tuning of language models on CPUs

    USAGE: peftkit <command> [options]

    COMMANDS:
      generate   Stream a model's answer to a prompt
      inspect    Show a model file's architecture, configuration and tensors
      tokenize   Print the token ids of a text as a JSON array
      train      Fine-tune a model with an adapter (LoRA, DoRA, IA3, prompt tuning, LoHa, LoKr, VeRA, AdaLoRA) on JSON/JSONL data
      eval       Evaluation loss, perplexity and exact match (or accuracy and F1) of a model or adapter
      merge      Fold an adapter into its base model and write a Hugging Face folder
      export     Write an adapter for llama.cpp and Ollama (a LoRA GGUF, or the merged model as a GGUF)
      serve      Serve a model and its adapters over OpenAI's HTTP protocol
      report     Rebuild a run's HTML report from its metrics, or overlay several runs

    Run 'peftkit <command> --help' for a command's options.

    """

    /// Runs `peftkit` with `arguments` (without the program name) and returns the exit status.
    public static func run(_ arguments: [String], output: CommandOutput = .console) -> Int32 {
        guard let command = arguments.first else {
            output.standardError(usage)
            return 2
        }
        let rest = Array(arguments.dropFirst())
        do {
            switch command {
            case "--help", "-h", "help":
                output.standardOutput(usage)
                return 0
            case "tokenize", "generate", "inspect", "train", "eval", "merge", "export", "serve", "report":
                let help = switch command {
                case "tokenize": TokenizeCommand.help
                case "generate": GenerateCommand.help
                case "train": TrainCommand.help
                case "eval": EvalCommand.help
                case "merge": MergeCommand.help
                case "export": ExportCommand.help
                case "serve": ServeCommand.help
                case "report": ReportCommand.help
                default: InspectCommand.help
                }
                if rest.contains("--help") || rest.contains("-h") {
                    output.standardOutput(help)
                    return 0
                }
                // Direct calls rather than function values: a partially applied static method is a
                // thunk the unwinder cannot walk past, which crashed backtrace capture in tests.
                switch command {
                case "tokenize": try TokenizeCommand.run(rest, output: output)
                case "generate": try GenerateCommand.run(rest, output: output)
                case "train": try TrainCommand.run(rest, output: output)
                case "eval": try EvalCommand.run(rest, output: output)
                case "merge": try MergeCommand.run(rest, output: output)
                case "export": try ExportCommand.run(rest, output: output)
                case "serve": try ServeCommand.run(rest, output: output)
                case "report": try ReportCommand.run(rest, output: output)
                default: try InspectCommand.run(rest, output: output)
                }
                return 0
            default:
                throw UsageError("unknown command '\(command)'\n\n\(usage)")
            }
        } catch let error as UsageError {
            output.standardError("error: \(error.message)\n")
            return 2
        } catch {
            output.standardError("error: \(oneLine("\(error)"))\n")
            return 1
        }
    }
}

/// An error message as one line of bounded length: hostile files can carry megabytes of text in a
/// field that an error quotes.
func oneLine(_ message: String, limit: Int = 600) -> String {
    let flat = message.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    return flat.count > limit ? String(flat.prefix(limit)) + "… (\(flat.count - limit) more characters)" : flat
}
