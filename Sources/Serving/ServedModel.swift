import Foundation
import Models
import NN
import PEFT
import Tokenizers

/// A base model with the adapters a server offers, each request run with the adapter its `model`
/// names (or none, for the base's name). Requests take turns: one generation runs at a time, and
/// at most `maxQueue` more wait; beyond that a request is refused with 503 rather than queued
/// without bound.
public final class ServedModel: @unchecked Sendable {
    /// The name requests use for the base model.
    public let name: String
    /// Names requests use for the adapters, in the order they were loaded.
    public var adapterNames: [String] { names.withLock { $0 } }
    private let names: LockedValue<[String]>
    /// Requests that may wait while one runs.
    public let maxQueue: Int
    let tokenizer: Tokenizer
    private let model: any CausalLanguageModel
    private var peft: PeftModel<Module>?
    private let generation = NSLock()
    private let admission = NSLock()
    /// Requests running or waiting.
    private var admitted = 0

    /// A model served under `name`, with `adapters` (name and PEFT folder) attached unmerged.
    /// - Throws: loading errors (a missing file, an adapter that does not fit the base, two
    ///   adapters of different methods on one layer), naming the adapter.
    public init(name: String, model: any CausalLanguageModel, tokenizer: Tokenizer, adapters: [(name: String, folder: URL)], maxQueue: Int = 16) throws {
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.maxQueue = maxQueue
        var peft: PeftModel<Module>?
        for (adapterName, folder) in adapters {
            guard adapterName != name else { throw OpenAIError(status: 500, "adapter name '\(adapterName)' is the base model's name") }
            if let peft {
                try peft.loadAdapter(from: folder, adapterName: adapterName)
            } else {
                peft = try PeftModel.load(model as Module, adapter: folder, adapterName: adapterName)
            }
        }
        self.peft = peft
        names = LockedValue(adapters.map(\.name))
    }

    /// Attaches the PEFT adapter in `folder` as `adapterName`, between requests.
    /// - Throws: `OpenAIError` 400 for a name in use or an adapter that cannot be loaded (naming why).
    public func load(adapterName: String, folder: URL) throws {
        guard !adapterName.isEmpty, adapterName != name, !adapterNames.contains(adapterName) else {
            throw OpenAIError(status: 400, "the name '\(adapterName.prefix(100))' is already served", param: "lora_name")
        }
        generation.lock()
        defer { generation.unlock() }
        do {
            if let peft { try peft.loadAdapter(from: folder, adapterName: adapterName) } else { peft = try PeftModel.load(model as Module, adapter: folder, adapterName: adapterName) }
        } catch {
            throw OpenAIError(status: 400, "cannot load '\(folder.path.prefix(200))': \(error)", param: "lora_path")
        }
        names.withLock { $0.append(adapterName) }
    }

    /// Detaches adapter `adapterName`, between requests.
    /// - Throws: `OpenAIError` 404 for a name not served.
    public func unload(adapterName: String) throws {
        generation.lock()
        defer { generation.unlock() }
        guard adapterNames.contains(adapterName), let peft else {
            throw OpenAIError(status: 404, "no adapter named '\(adapterName.prefix(100))' is served", param: "lora_name", code: "model_not_found")
        }
        do {
            if peft.adapterNames == [adapterName] {
                _ = try peft.unload()
                self.peft = nil
            } else {
                if peft.activeAdapter == adapterName { try peft.setActiveAdapter(peft.adapterNames.first { $0 != adapterName }!) }
                try peft.deleteAdapter(adapterName)
            }
        } catch {
            throw OpenAIError(status: 500, "cannot unload '\(adapterName)': \(error)", type: "server_error")
        }
        names.withLock { $0.removeAll { $0 == adapterName } }
    }

    /// Runs `body` with a generator for `model` (the base's name or an adapter's), after the
    /// requests before it.
    /// - Throws: `OpenAIError` 404 for an unknown name, 503 when the queue is full.
    func run<Result>(model requested: String, _ body: (TextGenerator) throws -> Result) throws -> Result {
        guard requested == name || adapterNames.contains(requested) else {
            throw OpenAIError(status: 404, "the model '\(requested.prefix(100))' does not exist; this server has \(([name] + adapterNames).joined(separator: ", "))",
                              param: "model", code: "model_not_found")
        }
        // Admitted: the one running and up to maxQueue waiting.
        try admission.withLock {
            guard admitted < maxQueue + 1 else {
                throw OpenAIError(status: 503, "the server is busy: \(admitted - 1) requests are waiting (at most \(maxQueue))", type: "server_error", code: "overloaded")
            }
            admitted += 1
        }
        generation.lock()
        defer {
            generation.unlock()
            admission.withLock { admitted -= 1 }
        }
        let generator = try TextGenerator(model: model, tokenizer: tokenizer)
        guard let peft else { return try body(generator) }
        if requested == name { return try peft.withAdaptersDisabled { try body(generator) } }
        try peft.setActiveAdapter(requested)
        return try body(generator)
    }

    /// The prompt's token ids for `input`.
    func promptIDs(_ input: CompletionRequest.Input) throws -> [Int] {
        switch input {
        case let .chat(messages): try tokenizer.encodeChat(messages, addGenerationPrompt: true)
        case let .text(text): try tokenizer.encode(text)
        }
    }

    /// Context positions the model has.
    var contextLength: Int { model.contextLength }
    /// Virtual tokens an adapter puts before the prompt (prompt tuning), which count against the context.
    func virtualTokens(_ adapter: String) -> Int {
        guard adapter != name, let prompt = peft?.promptEncoders[adapter] else { return 0 }
        return prompt.weight.shape[0]
    }
}

/// A value behind a lock.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
