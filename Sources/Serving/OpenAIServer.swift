import Foundation
import HTTPServing
import ModelIO
import Models
import Tokenizers

/// An OpenAI-compatible HTTP server for one base model and its adapters (vLLM's convention: a
/// request's `model` is the base's name or an adapter's): `POST /v1/chat/completions`,
/// `POST /v1/completions` (streamed as server-sent events ending in `data: [DONE]` when asked),
/// `GET /v1/models` (adapters listed with their `parent`) and `GET /health`. Errors come in
/// OpenAI's shape with their status; with an API key, requests without `Authorization: Bearer <key>`
/// are refused with 401.
public final class OpenAIServer: @unchecked Sendable {
    /// What is served.
    public let served: ServedModel
    private let apiKey: [UInt8]?
    /// Whether clients may load and unload adapters (`/v1/load_lora_adapter`, `/v1/unload_lora_adapter`).
    public let allowsAdapterLoading: Bool
    private let created = Int(Date().timeIntervalSince1970)
    /// The HTTP server underneath.
    public private(set) var http: HTTPServer!

    /// A server for `served` (not listening until `start`).
    public init(served: ServedModel, configuration: HTTPServer.Configuration = HTTPServer.Configuration(), apiKey: String? = nil,
                allowsAdapterLoading: Bool = false) {
        self.served = served
        self.apiKey = apiKey.map { Array($0.utf8) }
        self.allowsAdapterLoading = allowsAdapterLoading
        http = HTTPServer(configuration: configuration) { [unowned self] request, writer in try handle(request, writer) }
    }

    /// Starts listening; returns the port.
    @discardableResult
    public func start() throws -> Int {
        try http.start()
        return http.port
    }

    /// Stops accepting and lets requests in progress finish (up to `grace` seconds).
    public func stop(grace: Double = 5) { http.stop(grace: grace) }

    func handle(_ request: HTTPRequest, _ writer: HTTPResponseWriter) throws {
        do {
            if request.path == "/health" {
                guard request.method == "GET" else { throw OpenAIError(status: 405, "use GET") }
                return try writer.send(.json(200, "{\"status\": \"ok\"}"))
            }
            try authorize(request)
            switch (request.method, request.path) {
            case ("GET", "/v1/models"): try writer.send(.json(200, modelsJSON()))
            case ("POST", "/v1/chat/completions"): try complete(try CompletionRequest(body: request.body, chat: true), chat: true, writer)
            case ("POST", "/v1/completions"): try complete(try CompletionRequest(body: request.body, chat: false), chat: false, writer)
            case ("POST", "/v1/load_lora_adapter") where allowsAdapterLoading:
                let (name, path) = try Self.adapterRequest(request.body, needsPath: true)
                try served.load(adapterName: name, folder: URL(fileURLWithPath: path!))
                try writer.send(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Data("Success: LoRA adapter '\(name)' added successfully.".utf8)))
            case ("POST", "/v1/unload_lora_adapter") where allowsAdapterLoading:
                let (name, _) = try Self.adapterRequest(request.body, needsPath: false)
                try served.unload(adapterName: name)
                try writer.send(HTTPResponse(status: 200, headers: [("Content-Type", "text/plain")], body: Data("Success: LoRA adapter '\(name)' removed successfully.".utf8)))
            case (_, "/v1/models"), (_, "/v1/chat/completions"), (_, "/v1/completions"):
                throw OpenAIError(status: 405, "\(request.method.prefix(20)) is not allowed on \(request.path)")
            default:
                throw OpenAIError(status: 404, "no route \(request.path.prefix(200))", code: "not_found")
            }
        } catch let error as OpenAIError {
            guard !writer.hasResponded else { return }
            try writer.send(.json(error.status, HTTPServer.errorJSON(error.message, type: error.type, param: error.param, code: error.code)))
        }
    }

    /// `lora_name` (and `lora_path`) of a load or unload request.
    static func adapterRequest(_ body: Data, needsPath: Bool) throws -> (String, String?) {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw OpenAIError(status: 400, "the body is not valid JSON: \(error)") }
        guard let name = json["lora_name"]?.string, !name.isEmpty, name.count <= 200 else { throw OpenAIError.invalid("lora_name", "a name is required") }
        guard needsPath else { return (name, nil) }
        guard let path = json["lora_path"]?.string, !path.isEmpty else { throw OpenAIError.invalid("lora_path", "the adapter folder is required") }
        return (name, path)
    }

    /// Checks `Authorization: Bearer <key>` in constant time (for a key of any length).
    private func authorize(_ request: HTTPRequest) throws {
        guard let apiKey else { return }
        let given = Array((request.header("Authorization") ?? "").utf8)
        let prefix = Array("Bearer ".utf8)
        var difference = given.count == prefix.count + apiKey.count ? 0 : 1
        for index in 0..<(prefix.count + apiKey.count) {
            let expected = index < prefix.count ? prefix[index] : apiKey[index - prefix.count]
            difference |= Int((index < given.count ? given[index] : 0) ^ expected)
        }
        guard difference == 0 else { throw OpenAIError(status: 401, "a valid API key is required (Authorization: Bearer <key>)", type: "authentication_error", code: "invalid_api_key") }
    }

    private func modelsJSON() -> String {
        func entry(_ id: String, parent: String?) -> JSONValue {
            var fields: [(String, JSONValue)] = [("id", .string(id)), ("object", .string("model")), ("created", .number(Double(created))), ("owned_by", .string("peftkit"))]
            if let parent { fields += [("parent", .string(parent)), ("root", .string(parent))] }
            return .object(fields)
        }
        let data = [entry(served.name, parent: nil)] + served.adapterNames.map { entry($0, parent: served.name) }
        return JSONValue.object([("object", .string("list")), ("data", .array(data))]).serialized()
    }

    /// Runs a completion and answers it whole or streamed.
    private func complete(_ request: CompletionRequest, chat: Bool, _ writer: HTTPResponseWriter) throws {
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
        let created = Int(Date().timeIntervalSince1970)
        try served.run(model: request.model) { generator in
            let prompt = try served.promptIDs(request.input)
            let room = served.contextLength - prompt.count - served.virtualTokens(request.model)
            guard room >= 1 else {
                throw OpenAIError(status: 400, "the prompt has \(prompt.count) tokens; the model's context holds \(served.contextLength)",
                                  param: chat ? "messages" : "prompt", code: "context_length_exceeded")
            }
            if let wanted = request.maxTokens, wanted > room {
                throw OpenAIError(status: 400, "max_tokens \(wanted) and the prompt's \(prompt.count) tokens exceed the context of \(served.contextLength)",
                                  param: "max_tokens", code: "context_length_exceeded")
            }
            let seed = request.seed ?? UInt64.random(in: 0...UInt64.max)
            func options(_ choice: Int) -> GenerationOptions {
                var options = GenerationOptions(maxNewTokens: request.maxTokens ?? min(room, 512), temperature: Float(request.temperature),
                                                topP: Float(request.topP), seed: seed &+ UInt64(choice))
                options.prefillChunk = 256
                options.stopsAtEndOfSequence = !request.ignoreEOS
                return options
            }
            let echoed: String
            if request.echo, case let .text(text) = request.input { echoed = text } else { echoed = "" }
            let envelope = Envelope(id: id, created: created, model: request.model, chat: chat)
            let tokenizer = served.tokenizer
            if request.stream {
                try writer.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
                let sending = NSLock()
                func send(_ event: Data) throws { try sending.withLock { try writer.sendChunk(event) } }
                // The choices run as sequences of the batch at once; a client that has gone away
                // makes the next write throw, which ends each of them.
                let completions = try Self.eachChoice(request.n) { choice in
                    if chat { try send(envelope.event(delta: .object([("role", .string("assistant")), ("content", .string(""))]), finish: nil, index: choice)) }
                    if !echoed.isEmpty { try send(envelope.event(delta: .string(echoed), finish: nil, index: choice)) }
                    var offset = echoed.count
                    let completion = try generator.complete(prompt: prompt, options: options(choice), stopStrings: request.stop,
                                                            logprobs: request.logprobs) { text, tokens in
                        let logprobs = request.logprobs == nil ? nil : Logprobs(tokenizer: tokenizer, chat: chat).json(tokens, offset: offset)
                        offset += text.count
                        try send(envelope.event(delta: chat ? .object([("content", .string(text))]) : .string(text), finish: nil, index: choice,
                                                logprobs: logprobs))
                    }
                    try send(envelope.event(delta: chat ? .object([]) : .string(""), finish: completion.finishReason.rawValue, index: choice))
                    return completion
                }
                if request.includeUsage {
                    try send(envelope.usageEvent(prompt: prompt.count, completion: completions.map(\.tokenCount).reduce(0, +)))
                }
                try send(Data("data: [DONE]\n\n".utf8))
                try writer.finishStream()
            } else {
                var completions = try Self.eachChoice(request.n) { choice in
                    try generator.complete(prompt: prompt, options: options(choice), stopStrings: request.stop, logprobs: request.logprobs)
                }
                for index in completions.indices { completions[index].text = echoed + completions[index].text }
                let logprobs = request.logprobs.map { _ in completions.map { Logprobs(tokenizer: served.tokenizer, chat: chat).json($0.logprobs) } }
                try writer.send(.json(200, envelope.whole(completions, promptTokens: prompt.count, logprobs: logprobs).serialized()))
            }
        }
    }

    /// Runs `body` for choices 0..<n at once (one thread each beyond the first, so that the
    /// scheduler batches them) and returns their results in order; the first error is thrown.
    static func eachChoice<Result>(_ n: Int, _ body: @escaping (Int) throws -> Result) throws -> [Result] {
        guard n > 1 else { return [try body(0)] }
        let results = LockedValue([Int: Result]())
        let failure = LockedValue<(any Error)?>(nil)
        let group = DispatchGroup()
        nonisolated(unsafe) let run = body  // each thread calls it for its own choice
        for choice in 1..<n {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let result = try run(choice)
                    results.withLock { $0[choice] = result }
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }.start()
        }
        do {
            let first = try body(0)
            results.withLock { $0[0] = first }
        } catch {
            failure.withLock { if $0 == nil { $0 = error } }
        }
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
        return results.withLock { all in (0..<n).map { all[$0]! } }
    }
}

/// The fields every response of one completion shares, and its JSON bodies.
struct Envelope {
    let id: String, created: Int, model: String, chat: Bool

    private var head: [(String, JSONValue)] {
        [("id", .string(id)), ("object", .string(chat ? "chat.completion" : "text_completion")), ("created", .number(Double(created))), ("model", .string(model))]
    }

    private func usage(prompt: Int, completion: Int) -> JSONValue {
        .object([("prompt_tokens", .number(Double(prompt))), ("completion_tokens", .number(Double(completion))), ("total_tokens", .number(Double(prompt + completion)))])
    }

    /// The non-streamed response: one choice per completion (with its log probabilities, if any).
    func whole(_ completions: [TextGenerator.Completion], promptTokens: Int, logprobs: [JSONValue]? = nil) -> JSONValue {
        let choices: [JSONValue] = completions.enumerated().map { index, completion in
            let logprob = logprobs?[index] ?? .null
            return chat
                ? .object([("index", .number(Double(index))), ("message", .object([("role", .string("assistant")), ("content", .string(completion.text))])),
                           ("logprobs", logprob), ("finish_reason", .string(completion.finishReason.rawValue))])
                : .object([("index", .number(Double(index))), ("text", .string(completion.text)), ("logprobs", logprob),
                           ("finish_reason", .string(completion.finishReason.rawValue))])
        }
        let tokens = completions.map(\.tokenCount).reduce(0, +)
        return .object(head + [("choices", .array(choices)), ("usage", usage(prompt: promptTokens, completion: tokens))])
    }

    /// One server-sent event of choice `index`: a delta (an object for chat, text for completions) and a finish reason.
    func event(delta: JSONValue, finish: String?, index: Int = 0, logprobs: JSONValue? = nil) -> Data {
        var fields = head
        fields[1] = ("object", .string(chat ? "chat.completion.chunk" : "text_completion"))
        let choice: JSONValue = chat
            ? .object([("index", .number(Double(index))), ("delta", delta), ("logprobs", logprobs ?? .null), ("finish_reason", finish.map { .string($0) } ?? .null)])
            : .object([("index", .number(Double(index))), ("text", delta), ("logprobs", logprobs ?? .null), ("finish_reason", finish.map { .string($0) } ?? .null)])
        fields.append(("choices", .array([choice])))
        return Data(("data: " + JSONValue.object(fields).serialized() + "\n\n").utf8)
    }

    /// The last event with the usage (`stream_options.include_usage`): no choices.
    func usageEvent(prompt: Int, completion: Int) -> Data {
        var fields = head
        fields[1] = ("object", .string(chat ? "chat.completion.chunk" : "text_completion"))
        fields += [("choices", .array([])), ("usage", usage(prompt: prompt, completion: completion))]
        return Data(("data: " + JSONValue.object(fields).serialized() + "\n\n").utf8)
    }
}

/// Log probabilities in OpenAI's two shapes: chat's `{"content": [{token, logprob, bytes,
/// top_logprobs}]}` and completions' `{tokens, token_logprobs, top_logprobs, text_offset}`.
struct Logprobs {
    let tokenizer: Tokenizer
    let chat: Bool

    private func text(_ id: Int) -> String { (try? tokenizer.decode([id])) ?? "" }

    /// The log probabilities of `tokens`; completions' `text_offset` counts from `offset` characters.
    func json(_ tokens: [TextGenerator.TokenLogprob], offset start: Int = 0) -> JSONValue {
        if chat {
            func entry(_ id: Int, _ logprob: Float) -> [(String, JSONValue)] {
                let piece = text(id)
                return [("token", .string(piece)), ("logprob", .number(Double(logprob))), ("bytes", .array(Array(piece.utf8).map { .number(Double($0)) }))]
            }
            return .object([("content", .array(tokens.map { token in
                .object(entry(token.id, token.logprob) + [("top_logprobs", .array(token.top.map { .object(entry($0.id, $0.logprob)) }))])
            }))])
        }
        var offset = start, offsets: [JSONValue] = []
        for token in tokens {
            offsets.append(.number(Double(offset)))
            offset += text(token.id).count
        }
        return .object([
            ("tokens", .array(tokens.map { .string(text($0.id)) })),
            ("token_logprobs", .array(tokens.map { .number(Double($0.logprob)) })),
            ("top_logprobs", .array(tokens.map { token in .object(token.top.map { (text($0.id), JSONValue.number(Double($0.logprob))) }) })),
            ("text_offset", .array(offsets)),
        ])
    }
}
