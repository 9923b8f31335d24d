import CSignals
import Foundation
import HTTPServing
import ModelIO
import Models
import Serving

/// `peftkit serve`: an OpenAI-compatible server for a model and its adapters.
enum ServeCommand {
    /// Every option, declared once.
    static let declarations = CommandOptions(sections: [("OPTIONS", [
        CommandOption("model", "PATH", "A .gguf file or a Hugging Face folder", .text),
        CommandOption("adapter", "NAME=DIR", "A PEFT adapter served as model NAME (repeatable)", .text, repeatable: true),
        CommandOption("name", "NAME", "The base model's name in requests", .text, defaultDescription: "the model file's name"),
        CommandOption("host", "ADDRESS", "The IPv4 address to listen on (0.0.0.0: every interface)", .text, defaultDescription: "127.0.0.1"),
        CommandOption("port", "N", "The port (0: any free one, printed)", .integer(default: 8080, range: 0...65_535)),
        CommandOption("quantization", "NAME", "float, gguf (keep a GGUF's quantized blocks packed), q8_0, q4_1 or nf4",
                      .choice(default: "float", among: WeightQuantization.names)),
        CommandOption("chat-template", "FILE", ChatTemplateOption.help, .text),
        CommandOption("max-batch", "N", "Requests generated together (continuous batching, adapters mixed)", .integer(default: 8, range: 1...256)),
        CommandOption("max-queue", "N", "Requests that may wait while max-batch run; more are answered 503", .integer(default: 16, range: 0...100_000)),
        CommandOption("max-connections", "N", "Connections served at once", .integer(default: 64, range: 1...10_000)),
        CommandOption("api-key-file", "FILE", "Require Authorization: Bearer <the file's first line>", .text),
        CommandOption("allow-adapter-loading", "", """
            Let clients load and unload adapters by folder (POST /v1/load_lora_adapter with lora_name
            and lora_path, /v1/unload_lora_adapter with lora_name): only for trusted clients
            """, .flag),
    ])])

    static var help: String {
        """
        USAGE: peftkit serve --model PATH [--adapter NAME=DIR]… [--host 127.0.0.1] [--port 8080] [options]

        Serves the model and its adapters over OpenAI's HTTP protocol: POST /v1/chat/completions and
        /v1/completions (streamed as server-sent events with "stream": true), GET /v1/models (each
        adapter listed with the base as its parent) and GET /health. A request's "model" is the base's
        name or an adapter's. Up to --max-batch requests are generated together, whatever adapters
        they name (each gets the tokens it would get alone); a long prompt is read in pieces between
        the others' tokens. Ctrl-C or
        SIGTERM stops accepting, lets requests in progress finish, and exits.

        \(declarations.helpText)
          --help                        Show this help

        """
    }

    static func run(_ arguments: [String], output: CommandOutput) throws {
        let command = "serve"
        let declared = declarations
        let parsed = try declared.parse(arguments, command: command)
        guard let modelPath = parsed.value("model") else { throw UsageError("serve: --model is required") }
        try PathChecks.requireModel(modelPath, command: command)
        var adapters: [(name: String, folder: URL)] = []
        for specification in parsed.values("adapter") {
            guard let equals = specification.firstIndex(of: "="), equals != specification.startIndex else {
                throw UsageError("serve: --adapter expects NAME=DIR, got '\(specification)'")
            }
            let name = String(specification[..<equals]), path = String(specification[specification.index(after: equals)...])
            guard !adapters.contains(where: { $0.name == name }) else { throw UsageError("serve: two adapters are named '\(name)'") }
            try PathChecks.requireInput(path, flag: "adapter", folder: true, command: command)
            adapters.append((name, URL(fileURLWithPath: path)))
        }
        var apiKey: String?
        if let keyFile = parsed.value("api-key-file") {
            let data: Data
            do { data = try InputFile.read(URL(fileURLWithPath: keyFile)) } catch let ModelFileError.unreadable(_, reason) {
                throw UsageError("serve: cannot read --api-key-file \(keyFile): \(reason)")
            }
            guard let key = String(data: data, encoding: .utf8)?.split(whereSeparator: \.isNewline).first.map(String.init), !key.isEmpty else {
                throw UsageError("serve: --api-key-file \(keyFile) holds no key on its first line")
            }
            apiKey = key
        }
        var configuration = HTTPServer.Configuration()
        configuration.host = parsed.value("host") ?? "127.0.0.1"
        configuration.port = try parsed.integer(declared["port"], command: command)!
        configuration.maxConnections = try parsed.integer(declared["max-connections"], command: command)!
        let modelURL = URL(fileURLWithPath: modelPath)
        let quantization = WeightQuantization(name: try parsed.choice(declared["quantization"], command: command))!
        let model = try AutoModelForCausalLM.load(from: modelURL, quantization: quantization)
        let tokenizer = try ChatTemplateOption.tokenizer(for: modelURL, parsed, command: command)
        let name = parsed.value("name") ?? modelURL.deletingPathExtension().lastPathComponent
        let served = try ServedModel(name: name, model: model, tokenizer: tokenizer, adapters: adapters,
                                     maxQueue: try parsed.integer(declared["max-queue"], command: command)!,
                                     maxBatch: try parsed.integer(declared["max-batch"], command: command)!)
        let server = OpenAIServer(served: served, configuration: configuration, apiKey: apiKey, allowsAdapterLoading: parsed.has("allow-adapter-loading"))
        do { try server.start() } catch let error as HTTPError { throw UsageError("serve: \(error.message)") }
        pk_stop_signals_install()
        output.standardError("serve: listening on http://\(configuration.host):\(server.http.port) — models: \(([name] + adapters.map(\.name)).joined(separator: ", "))\n")
        while pk_stop_requested() == 0 { usleep(100_000) }
        output.standardError("serve: stopping (requests in progress finish)\n")
        server.stop(grace: 30)
    }
}
