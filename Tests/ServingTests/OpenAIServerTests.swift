import Foundation
import HTTPServing
import ModelIO
import Models
import NN
import PEFT
@testable import Serving
import Testing
import Tokenizers
#if canImport(Glibc)
import Glibc
#endif

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("TrainingTests/Fixtures")
private let modelFolder = fixtures.appendingPathComponent("tiny-chat-llama")
private let adapters = [("tuned", fixtures.appendingPathComponent("parity/final")), ("start", fixtures.appendingPathComponent("parity/initial"))]

/// One HTTP exchange over a fresh connection: the status and the body (chunked bodies decoded).
func exchange(port: Int, method: String = "POST", path: String, body: String? = nil, headers: [String] = []) throws -> (status: Int, body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard connected == 0 else { throw OpenAIError(status: 0, "connect failed") }
    var timeout = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var request = "\(method) \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + headers.map { $0 + "\r\n" }.joined()
    if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    var data = [UInt8](), buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        if count <= 0 { break }
        data += buffer[0..<count]
    }
    let text = String(decoding: data, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return (0, text) }
    let head = String(text[..<split.lowerBound]), rest = String(text[split.upperBound...])
    let status = Int(head.split(separator: " ")[1]) ?? 0
    guard head.lowercased().contains("transfer-encoding: chunked") else { return (status, rest) }
    var decoded = "", remaining = Substring(rest)
    while let line = remaining.range(of: "\r\n"), let size = Int(remaining[..<line.lowerBound], radix: 16), size > 0 {
        let start = line.upperBound
        let bytes = Array(remaining[start...].utf8)
        decoded += String(decoding: bytes[0..<size], as: UTF8.self)
        remaining = Substring(String(decoding: bytes[(size + 2)...], as: UTF8.self))
    }
    return (status, decoded)
}

@Suite(.serialized) struct OpenAIServerTests {
    static func server(apiKey: String? = nil) throws -> OpenAIServer {
        let model = try AutoModelForCausalLM.load(from: modelFolder)
        let served = try ServedModel(name: "tiny", model: model, tokenizer: try Tokenizer.load(from: modelFolder), adapters: adapters)
        let server = OpenAIServer(served: served, apiKey: apiKey)
        try server.start()
        return server
    }

    /// What `TextGenerator` says with `adapter` (nil: the base), greedily, in-process.
    static func expected(_ messages: [ChatMessage], adapter: URL?, tokens: Int) throws -> String {
        let model = try AutoModelForCausalLM.load(from: modelFolder)
        if let adapter { _ = try PeftModel.load(model as Module, adapter: adapter) }
        let generator = try TextGenerator(model: model, tokenizer: try Tokenizer.load(from: modelFolder))
        return try generator.chat(messages, options: GenerationOptions(maxNewTokens: tokens))
    }

    static func chatBody(model: String, _ content: String, extra: String = "") -> String {
        "{\"model\": \"\(model)\", \"messages\": [{\"role\": \"user\", \"content\": \"\(content)\"}], \"temperature\": 0, \"max_tokens\": 8\(extra)}"
    }

    @Test("health, models with adapters as children of the base, and greedy chat per adapter equal to in-process generation")
    func chatPerAdapter() throws {
        let server = try Self.server()
        defer { server.stop() }
        #expect(try exchange(port: server.http.port, method: "GET", path: "/health").status == 200)
        let models = try JSONValue.parse(Data(try exchange(port: server.http.port, method: "GET", path: "/v1/models").body.utf8))
        let ids = models["data"]?.array?.compactMap { $0["id"]?.string }
        #expect(ids == ["tiny", "tuned", "start"] && models["data"]?.array?[1]["parent"]?.string == "tiny")
        let question = [ChatMessage.user("What is 3 plus 4?")]
        // Alternating adapters and the base: each answers as it does alone.
        for (name, folder) in [("tuned", adapters[0].1), ("tiny", nil), ("start", adapters[1].1), ("tuned", adapters[0].1)] as [(String, URL?)] {
            let answer = try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: name, "What is 3 plus 4?"))
            #expect(answer.status == 200, "\(answer.body)")
            let json = try JSONValue.parse(Data(answer.body.utf8))
            #expect(json["object"]?.string == "chat.completion" && json["model"]?.string == name)
            let content = json["choices"]?.array?.first?["message"]?["content"]?.string
            #expect(content == (try Self.expected(question, adapter: folder, tokens: 8)), "\(name)")
            #expect(json["usage"]?["completion_tokens"]?.integer ?? 0 > 0 && json["choices"]?.array?.first?["finish_reason"]?.string != nil)
        }
    }

    @Test("streamed chat: the deltas add up to the whole answer, then the usage and [DONE]; completions continue raw text and honour stop")
    func streaming() throws {
        let server = try Self.server()
        defer { server.stop() }
        let whole = try JSONValue.parse(Data(try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: "tuned", "What is 5 plus 2?")).body.utf8))
        let stream = try exchange(port: server.http.port, path: "/v1/chat/completions",
                                  body: Self.chatBody(model: "tuned", "What is 5 plus 2?", extra: ", \"stream\": true, \"stream_options\": {\"include_usage\": true}"))
        #expect(stream.status == 200)
        let events = stream.body.components(separatedBy: "\n\n").filter { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
        #expect(events.last == "[DONE]")
        let chunks = try events.dropLast().map { try JSONValue.parse(Data($0.utf8)) }
        let text = chunks.compactMap { $0["choices"]?.array?.first?["delta"]?["content"]?.string }.joined()
        #expect(text == whole["choices"]?.array?.first?["message"]?["content"]?.string)
        #expect(chunks.last?["usage"]?["total_tokens"]?.integer == whole["usage"]?["total_tokens"]?.integer)
        #expect(chunks.first?["object"]?.string == "chat.completion.chunk")

        let completion = try exchange(port: server.http.port, path: "/v1/completions",
                                      body: "{\"model\": \"tiny\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 6}")
        let json = try JSONValue.parse(Data(completion.body.utf8))
        let continued = try #require(json["choices"]?.array?.first?["text"]?.string)
        #expect(json["object"]?.string == "text_completion" && !continued.isEmpty)
        if let cut = continued.dropFirst().first {
            let stopped = try exchange(port: server.http.port, path: "/v1/completions",
                                       body: "{\"model\": \"tiny\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 6, \"stop\": [\"\(cut)\"]}")
            let text = try JSONValue.parse(Data(stopped.body.utf8))["choices"]?.array?.first?["text"]?.string
            #expect(text.map { !$0.contains(cut) } == true && text.map { continued.hasPrefix($0) } == true)
        }
    }

    @Test("hostile requests are answered with OpenAI's error shape and the right status; a valid request afterwards succeeds")
    func hostileRequests() throws {
        let server = try Self.server(apiKey: "s3cret")
        defer { server.stop() }
        let key = ["Authorization: Bearer s3cret"]
        let long = String(repeating: "plus ", count: 400)
        for (body, status, fragment) in [
            ("{\"model\": \"nope\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 404, "model_not_found"),
            ("{not json", 400, "not valid JSON"), ("[1, 2]", 400, "JSON object"),
            (Self.chatBody(model: "tiny", "hi", extra: ", \"temperature\": \"hot\""), 400, "temperature"),
            (Self.chatBody(model: "tiny", "hi", extra: ", \"n\": 99"), 400, "'n'"),
            ("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": -1}", 400, "max_tokens"),
            ("{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 1000000}", 400, "context_length_exceeded"),
            (Self.chatBody(model: "tiny", long), 400, "context_length_exceeded"),
            ("{\"model\": \"tiny\", \"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", 400, "messages[0].role"),
            ("{\"model\": \"tiny\", \"messages\": []}", 400, "messages"),
            (Self.chatBody(model: "tiny", "hi", extra: ", \"logprobs\": 3"), 400, "logprobs"),
            (Self.chatBody(model: "tiny", "hi", extra: ", \"top_logprobs\": 3"), 400, "top_logprobs"),
            (Self.chatBody(model: "tiny", "hi", extra: ", \"logprobs\": true, \"top_logprobs\": 21"), 400, "top_logprobs"),
        ] {
            let answer = try exchange(port: server.http.port, path: "/v1/chat/completions", body: body, headers: key)
            #expect(answer.status == status && answer.body.contains("\"error\"") && answer.body.contains(fragment), "\(body.prefix(60)): \(answer)")
        }
        // A NaN temperature (not JSON), a raw control character in a string, and a declared 100 MB body.
        let nan = try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: "tiny", "hi", extra: ", \"temperature\": NaN"), headers: key)
        #expect(nan.status == 400 && nan.body.contains("not valid JSON"))
        let invalid = try exchange(port: server.http.port, path: "/v1/chat/completions",
                                   body: "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"\u{FFFD}\"}]}".replacingOccurrences(of: "\u{FFFD}", with: "\u{00}"),
                                   headers: key)
        #expect(invalid.status == 400 && invalid.body.contains("\"error\""), "\(invalid)")
        let huge = try exchange(port: server.http.port, path: "/v1/chat/completions", headers: key + ["Content-Length: 100000000"])
        #expect(huge.status == 413 && huge.body.contains("larger than"), "\(huge)")
        #expect(try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: "tiny", "hi")).status == 401)
        #expect(try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: "tiny", "hi"), headers: ["Authorization: Bearer s3cre"]).status == 401)
        #expect(try exchange(port: server.http.port, method: "GET", path: "/v1/chat/completions", headers: key).status == 405)
        #expect(try exchange(port: server.http.port, method: "GET", path: "/v2/anything", headers: key).status == 404)
        #expect(try exchange(port: server.http.port, path: "/v1/chat/completions", body: Self.chatBody(model: "tuned", "hi"), headers: key).status == 200)
    }

    @Test("concurrent HTTP requests for two adapters and the base, one client leaving mid-stream: each answer equals in-process generation")
    func concurrentRequests() throws {
        let server = try Self.server()
        defer { server.stop() }
        let port = server.http.port
        let questions = ["What is 3 plus 4?", "What is 5 plus 2?", "Name a colour."]
        var expected: [String: String] = [:]
        for (name, folder) in [("tuned", adapters[0].1), ("tiny", nil), ("start", adapters[1].1)] as [(String, URL?)] {
            for question in questions { expected[name + question] = try Self.expected([.user(question)], adapter: folder, tokens: 8) }
        }
        let answers = LockedValue([String: String]())
        let group = DispatchGroup()
        for name in ["tuned", "tiny", "start"] {
            for question in questions {
                group.enter()
                Thread {
                    defer { group.leave() }
                    guard let reply = try? exchange(port: port, path: "/v1/chat/completions", body: Self.chatBody(model: name, question)),
                          let json = try? JSONValue.parse(Data(reply.body.utf8)),
                          let content = json["choices"]?.array?.first?["message"]?["content"]?.string else { return }
                    answers.withLock { $0[name + question] = content }
                }.start()
            }
        }
        // A client that asks for a long stream and leaves after its first bytes.
        group.enter()
        Thread {
            defer { group.leave() }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let body = Self.chatBody(model: "tuned", "Tell me a long story.", extra: ", \"stream\": true").replacingOccurrences(of: "\"max_tokens\": 8", with: "\"max_tokens\": 100")
            let request = "POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 64)
            _ = recv(fd, &buffer, buffer.count, 0)
            close(fd)
        }.start()
        group.wait()
        #expect(answers.withLock { $0 } == expected)
        #expect(try exchange(port: port, method: "GET", path: "/health").status == 200)
    }

    @Test("n choices run as sequences of one batch: seeded samples repeat, greedy ones equal the single answer, streams carry each index; echo prefixes the prompt")
    func choicesAndEcho() throws {
        let server = try Self.server()
        defer { server.stop() }
        let port = server.http.port
        func post(_ path: String, _ body: String) throws -> JSONValue {
            let reply = try exchange(port: port, path: path, body: body)
            #expect(reply.status == 200, "\(reply.body)")
            return try JSONValue.parse(Data(reply.body.utf8))
        }
        let sampled = "{\"model\": \"tuned\", \"prompt\": \"What is\", \"temperature\": 0.9, \"seed\": 5, \"max_tokens\": 6, \"n\": 3}"
        let first = try post("/v1/completions", sampled), second = try post("/v1/completions", sampled)
        let choices = try #require(first["choices"]?.array)
        #expect(choices.map { $0["index"]?.integer } == [0, 1, 2])
        #expect(choices.map { $0["text"]?.string } == second["choices"]?.array?.map { $0["text"]?.string })
        let tokens = first["usage"]?["completion_tokens"]?.integer ?? 0
        #expect(tokens > 0 && tokens <= 18)
        let greedy = try post("/v1/chat/completions", Self.chatBody(model: "tuned", "What is 3 plus 4?", extra: ", \"n\": 2"))
        let expected = try Self.expected([.user("What is 3 plus 4?")], adapter: adapters[0].1, tokens: 8)
        #expect(greedy["choices"]?.array?.map { $0["message"]?["content"]?.string } == [expected, expected])
        // Streamed: each choice's deltas add up to its answer.
        let stream = try exchange(port: port, path: "/v1/completions", body: sampled.replacingOccurrences(of: "}", with: ", \"stream\": true}"))
        var texts = ["", "", ""]
        for event in stream.body.components(separatedBy: "\n\n") where event.hasPrefix("data: {") {
            let chunk = try JSONValue.parse(Data(event.dropFirst(6).utf8))
            guard let choice = chunk["choices"]?.array?.first, let index = choice["index"]?.integer else { continue }
            texts[index] += choice["text"]?.string ?? ""
        }
        #expect(texts == choices.map { $0["text"]?.string ?? "" })
        // ignore_eos: the answer runs to max_tokens.
        let long = try post("/v1/completions", "{\"model\": \"tuned\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 40, \"ignore_eos\": true}")
        #expect(long["usage"]?["completion_tokens"]?.integer == 40 && long["choices"]?.array?.first?["finish_reason"]?.string == "length")
        // echo
        let echoed = try post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 4, \"echo\": true}")
        let plain = try post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 4}")
        #expect(echoed["choices"]?.array?.first?["text"]?.string == "What is" + (plain["choices"]?.array?.first?["text"]?.string ?? "?"))
        for (body, field) in [("{\"model\": \"tiny\", \"prompt\": \"x\", \"n\": 17}", "n"), ("{\"model\": \"tiny\", \"prompt\": \"x\", \"echo\": true, \"logprobs\": 1}", "echo"),
                              ("{\"model\": \"tiny\", \"prompt\": \"x\", \"n\": 0}", "n"),
                              ("{\"model\": \"tiny\", \"prompt\": \"x\", \"ignore_eos\": 1}", "ignore_eos")] {
            let reply = try exchange(port: port, path: "/v1/completions", body: body)
            let param = try JSONValue.parse(Data(reply.body.utf8))["error"]?["param"]?.string
            #expect(reply.status == 400 && param == field, "\(body): \(reply.body)")
        }
    }

    @Test("the queue: max-batch requests run, max-queue wait, one more is refused with 503; an unknown model is 404 before it queues")
    func queueLimit() throws {
        let model = try AutoModelForCausalLM.load(from: modelFolder)
        let served = try ServedModel(name: "tiny", model: model, tokenizer: try Tokenizer.load(from: modelFolder), adapters: [], maxQueue: 1, maxBatch: 1)
        let running = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), done = DispatchGroup()
        for _ in 0..<2 {
            done.enter()
            Thread {
                _ = try? served.run(model: "tiny") { _ in
                    running.signal()
                    release.wait()
                }
                done.leave()
            }.start()
        }
        running.wait()  // one runs, the other waits
        usleep(100_000)
        #expect(throws: OpenAIError(status: 503, "the server is busy: 2 requests are running or waiting (at most 1 running and 1 waiting)", type: "server_error", code: "overloaded")) {
            try served.run(model: "tiny") { _ in }
        }
        #expect { try served.run(model: "other") { _ in } } throws: { ($0 as? OpenAIError)?.status == 404 }
        release.signal()
        running.wait()
        release.signal()
        done.wait()
        try served.run(model: "tiny") { _ in }  // free again
    }

    @Test("with adapter loading allowed, an adapter loaded by a client answers as it does in-process, and unloading removes it")
    func loadAndUnload() throws {
        let model = try AutoModelForCausalLM.load(from: modelFolder)
        let served = try ServedModel(name: "tiny", model: model, tokenizer: try Tokenizer.load(from: modelFolder), adapters: [])
        let server = OpenAIServer(served: served, allowsAdapterLoading: true)
        try server.start()
        defer { server.stop() }
        let port = server.http.port
        let loaded = try exchange(port: port, path: "/v1/load_lora_adapter", body: "{\"lora_name\": \"tuned\", \"lora_path\": \"\(adapters[0].1.path)\"}")
        #expect(loaded.status == 200 && loaded.body.contains("added"), "\(loaded)")
        #expect(try exchange(port: port, path: "/v1/load_lora_adapter", body: "{\"lora_name\": \"tuned\", \"lora_path\": \"\(adapters[0].1.path)\"}").status == 400)
        #expect(try exchange(port: port, path: "/v1/load_lora_adapter", body: "{\"lora_name\": \"x\", \"lora_path\": \"/no/such/folder\"}").status == 400)
        let answer = try JSONValue.parse(Data(try exchange(port: port, path: "/v1/chat/completions", body: Self.chatBody(model: "tuned", "What is 3 plus 4?")).body.utf8))
        #expect(answer["choices"]?.array?.first?["message"]?["content"]?.string == (try Self.expected([.user("What is 3 plus 4?")], adapter: adapters[0].1, tokens: 8)))
        #expect(try exchange(port: port, path: "/v1/unload_lora_adapter", body: "{\"lora_name\": \"tuned\"}").status == 200)
        #expect(try exchange(port: port, path: "/v1/chat/completions", body: Self.chatBody(model: "tuned", "hi")).status == 404)
        #expect(try exchange(port: port, path: "/v1/unload_lora_adapter", body: "{\"lora_name\": \"tuned\"}").status == 404)
        let base = try JSONValue.parse(Data(try exchange(port: port, path: "/v1/chat/completions", body: Self.chatBody(model: "tiny", "What is 3 plus 4?")).body.utf8))
        #expect(base["choices"]?.array?.first?["message"]?["content"]?.string == (try Self.expected([.user("What is 3 plus 4?")], adapter: nil, tokens: 8)))
        // Without the flag the routes do not exist.
        let closed = try Self.server()
        defer { closed.stop() }
        #expect(try exchange(port: closed.http.port, path: "/v1/load_lora_adapter", body: "{}").status == 404)
    }

    @Test("log probabilities: chat's per-token entries and completions' legacy lists are the model's log-softmax, the chosen token among the top ones")
    func logprobs() throws {
        let server = try Self.server()
        defer { server.stop() }
        let answer = try JSONValue.parse(Data(try exchange(port: server.http.port, path: "/v1/chat/completions",
                                                           body: Self.chatBody(model: "tuned", "What is 3 plus 4?", extra: ", \"logprobs\": true, \"top_logprobs\": 3")).body.utf8))
        let choice = try #require(answer["choices"]?.array?.first)
        let content = try #require(choice["logprobs"]?["content"]?.array)
        #expect(!content.isEmpty && content.count <= 8)
        for entry in content {
            let logprob = try #require(entry["logprob"]?.number)
            let top = try #require(entry["top_logprobs"]?.array)
            #expect(logprob <= 0 && top.count == 3)
            // Greedy: the chosen token is the most likely one.
            #expect(abs((top.first?["logprob"]?.number ?? 1) - logprob) < 1e-6 && top.first?["token"]?.string == entry["token"]?.string)
        }
        let joined = content.compactMap { $0["token"]?.string }.joined()
        #expect(joined == choice["message"]?["content"]?.string)
        let completion = try JSONValue.parse(Data(try exchange(port: server.http.port, path: "/v1/completions",
                                                               body: "{\"model\": \"tiny\", \"prompt\": \"What is\", \"temperature\": 0, \"max_tokens\": 4, \"logprobs\": 2}").body.utf8))
        let legacy = try #require(completion["choices"]?.array?.first?["logprobs"])
        #expect(legacy["tokens"]?.array?.count == legacy["token_logprobs"]?.array?.count && legacy["text_offset"]?.array?.first?.integer == 0)
        #expect(legacy["top_logprobs"]?.array?.first?.members?.count ?? 0 >= 1)
        // Streamed: each chunk carries its tokens' entries, and together they equal the whole answer's.
        let stream = try exchange(port: server.http.port, path: "/v1/chat/completions",
                                  body: Self.chatBody(model: "tuned", "What is 3 plus 4?", extra: ", \"logprobs\": true, \"top_logprobs\": 3, \"stream\": true"))
        var streamed: [JSONValue] = []
        for event in stream.body.components(separatedBy: "\n\n") where event.hasPrefix("data: {") {
            let chunk = try JSONValue.parse(Data(event.dropFirst(6).utf8))
            streamed += chunk["choices"]?.array?.first?["logprobs"]?["content"]?.array ?? []
        }
        #expect(streamed.map { $0["token"]?.string } == content.map { $0["token"]?.string })
        #expect(streamed.map { $0["logprob"]?.number } == content.map { $0["logprob"]?.number })
    }
}
