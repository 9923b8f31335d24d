import Foundation
import ModelIO
import Models
import Tokenizers

/// A `POST /v1/chat/completions` or `/v1/completions` body, read and checked: every field PEFTKit
/// uses is validated and named in its error; fields it does not use are ignored, as OpenAI's
/// servers ignore what they do not know.
public struct CompletionRequest: Sendable {
    /// What is completed.
    public enum Input: Sendable {
        /// Chat messages, rendered with the model's chat template.
        case chat([ChatMessage])
        /// Raw text, continued as is.
        case text(String)
    }

    /// `model`: the base's name or an adapter's.
    public var model: String
    /// The messages or the prompt.
    public var input: Input
    /// `max_completion_tokens` / `max_tokens` (nil: what the context leaves, up to a default).
    public var maxTokens: Int?
    /// `temperature` (OpenAI's default 1).
    public var temperature: Double
    /// `top_p`.
    public var topP: Double
    /// `stop`: up to four strings.
    public var stop: [String]
    /// `seed` (nil: a fresh one).
    public var seed: UInt64?
    /// `stream`.
    public var stream: Bool
    /// `stream_options.include_usage`.
    public var includeUsage: Bool
    /// How many alternatives to report with each token's log probability (nil: no log
    /// probabilities): chat's `logprobs: true` with `top_logprobs`, completions' `logprobs: N`.
    public var logprobs: Int?
    /// `n`: how many answers (choices) to generate, each its own sequence of the batch.
    public var n: Int = 1
    /// `echo` (completions only): the answer's text starts with the prompt.
    public var echo: Bool = false

    /// `ignore_eos` (vLLM's and llama.cpp's extension): generate to the token limit, past end-of-sequence tokens.
    public var ignoreEOS: Bool = false

    /// Most choices a request may ask for.
    public static let maxChoices = 16

    /// Reads `body` for the chat endpoint (`chat`) or the text one.
    /// - Throws: `OpenAIError` (400) naming the field that is missing or wrong.
    public init(body: Data, chat: Bool) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw OpenAIError(status: 400, "the body is not valid JSON: \(error)") }
        guard json.members != nil else { throw OpenAIError(status: 400, "the body must be a JSON object") }
        guard let model = json["model"]?.string, !model.isEmpty else { throw OpenAIError.invalid("model", "a model name is required") }
        self.model = model
        if chat {
            guard let messages = json["messages"]?.array, !messages.isEmpty else { throw OpenAIError.invalid("messages", "a non-empty list of messages is required") }
            input = .chat(try messages.enumerated().map { index, message in try Self.message(message, index: index) })
        } else {
            guard let prompt = json["prompt"] else { throw OpenAIError.invalid("prompt", "a prompt is required") }
            if let text = prompt.string {
                input = .text(text)
            } else if let list = prompt.array, list.count == 1, let text = list[0].string {
                input = .text(text)
            } else {
                throw OpenAIError.invalid("prompt", "must be one string (lists of prompts and token ids are not supported)")
            }
        }
        if let value = json["n"], !value.isNull {
            guard let count = value.integer, (1...Self.maxChoices).contains(count) else {
                throw OpenAIError.invalid("n", "must be an integer from 1 to \(Self.maxChoices)")
            }
            n = count
        }
        if let value = json["logprobs"], !value.isNull {
            if chat {
                guard let on = value.bool else { throw OpenAIError.invalid("logprobs", "must be true or false") }
                if on { logprobs = 0 }
            } else {
                guard let count = value.integer, (0...5).contains(count) else { throw OpenAIError.invalid("logprobs", "must be an integer from 0 to 5") }
                logprobs = count
            }
        }
        if chat, let value = json["top_logprobs"], !value.isNull {
            guard let count = value.integer, (0...20).contains(count) else { throw OpenAIError.invalid("top_logprobs", "must be an integer from 0 to 20") }
            guard logprobs != nil else { throw OpenAIError.invalid("top_logprobs", "needs \"logprobs\": true") }
            logprobs = count
        }
        if !chat, let value = json["echo"], !value.isNull {
            guard let echo = value.bool else { throw OpenAIError.invalid("echo", "must be true or false") }
            guard !echo || logprobs == nil else { throw OpenAIError.invalid("echo", "the prompt's log probabilities are not computed; ask for echo or logprobs, not both") }
            self.echo = echo
        }
        let limit = json["max_completion_tokens"].flatMap { $0.isNull ? nil : $0 } ?? json["max_tokens"].flatMap { $0.isNull ? nil : $0 }
        if let limit {
            let field = json["max_completion_tokens"].map { !$0.isNull } == true ? "max_completion_tokens" : "max_tokens"
            guard let count = limit.integer, count >= 1, count <= 1 << 20 else { throw OpenAIError.invalid(field, "must be an integer from 1 to 1048576") }
            maxTokens = count
        }
        temperature = try Self.number(json, "temperature", default: 1, range: 0...2)
        topP = try Self.number(json, "top_p", default: 1, range: Double.leastNormalMagnitude...1)
        stop = []
        if let value = json["stop"], !value.isNull {
            if let one = value.string { stop = [one] }
            else if let list = value.array, list.count <= 4, list.allSatisfy({ $0.string != nil }) { stop = list.compactMap(\.string) }
            else { throw OpenAIError.invalid("stop", "must be a string or a list of at most 4 strings") }
        }
        if let value = json["seed"], !value.isNull {
            guard let seed = value.integer else { throw OpenAIError.invalid("seed", "must be an integer") }
            self.seed = UInt64(bitPattern: Int64(seed))
        }
        if let value = json["stream"], !value.isNull {
            guard let stream = value.bool else { throw OpenAIError.invalid("stream", "must be true or false") }
            self.stream = stream
        } else {
            stream = false
        }
        includeUsage = json["stream_options"]?["include_usage"]?.bool ?? false
        if let value = json["ignore_eos"], !value.isNull {
            guard let ignore = value.bool else { throw OpenAIError.invalid("ignore_eos", "must be true or false") }
            ignoreEOS = ignore
        }
    }

    private static func message(_ value: JSONValue, index: Int) throws -> ChatMessage {
        let field = "messages[\(index)]"
        guard value.members != nil, let role = value["role"]?.string else { throw OpenAIError.invalid(field, "must be an object with a role") }
        guard ["system", "developer", "user", "assistant"].contains(role) else {
            throw OpenAIError.invalid("\(field).role", "'\(role.prefix(40))' is not system, developer, user or assistant")
        }
        let content: String
        if let text = value["content"]?.string {
            content = text
        } else if let parts = value["content"]?.array {
            // Text parts are joined; other parts (images, audio) are refused.
            content = try parts.enumerated().map { partIndex, part in
                guard part["type"]?.string == "text", let text = part["text"]?.string else {
                    throw OpenAIError.invalid("\(field).content[\(partIndex)]", "only text parts are supported")
                }
                return text
            }.joined()
        } else {
            throw OpenAIError.invalid("\(field).content", "must be a string or a list of text parts")
        }
        return ChatMessage(role: role == "developer" ? "system" : role, content: content)
    }

    private static func number(_ json: JSONValue, _ key: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let field = json[key], !field.isNull else { return value }
        guard let number = field.number, number.isFinite, range.contains(number) else {
            throw OpenAIError.invalid(key, "must be a number from \(range.lowerBound == Double.leastNormalMagnitude ? 0 : range.lowerBound) to \(range.upperBound)")
        }
        return number
    }
}
