import Autograd
import Foundation
import Models
import NN
import PEFT
import Tokenizers

/// A base model with the adapters a server offers, each request run with the adapter its `model`
/// names (or none, for the base's name). Requests are generated together by continuous batching
/// (`BatchScheduler`): up to `maxBatch` at once, whatever adapters they use, each getting the
/// tokens it would get alone; at most `maxQueue` more wait, and beyond that a request is refused
/// with 503 rather than queued without bound.
public final class ServedModel: @unchecked Sendable {
    /// The name requests use for the base model.
    public let name: String
    /// Names requests use for the adapters, in the order they were loaded.
    public var adapterNames: [String] { names.withLock { $0 } }
    private let names: LockedValue<[String]>
    /// The virtual tokens of each prompt-tuning adapter.
    private let prompts = LockedValue<[String: Variable]>([:])
    /// Requests that may wait while `maxBatch` run.
    public let maxQueue: Int
    /// Requests generated together.
    public var maxBatch: Int { scheduler.maxBatch }
    let tokenizer: Tokenizer
    private let model: any CausalLanguageModel
    /// The adapters, touched only on the scheduler's thread once serving has started.
    private var peft: PeftModel<Module>?
    private var scheduler: BatchScheduler!
    private let admission = NSLock()
    /// Requests running or waiting.
    private var admitted = 0

    /// A model served under `name`, with `adapters` (name and PEFT folder) attached unmerged.
    /// - Parameters:
    ///   - maxBatch: requests generated together (1: one after another).
    ///   - maxQueue: requests that may wait beyond those.
    /// - Throws: loading errors (a missing file, an adapter that does not fit the base, two
    ///   adapters of different methods on one layer), naming the adapter.
    public init(name: String, model: any CausalLanguageModel, tokenizer: Tokenizer, adapters: [(name: String, folder: URL)],
                maxQueue: Int = 16, maxBatch: Int = 8) throws {
        precondition(maxBatch >= 1 && maxQueue >= 0, "ServedModel: maxBatch must be ≥ 1 and maxQueue ≥ 0")
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
        for (adapterName, _) in adapters { recordPrompt(of: adapterName) }
        // Requests name only served adapters and nothing is ever merged here, so the routing is bound
        // without `PeftModel.withRouting`'s checks (which walk the whole model at every step).
        let batch = DecodeBatch(model: model) { [unowned self] adapters, pass in
            guard self.peft != nil else { return try pass() }
            self.model.attachedPrefix = nil  // each sequence brings its own prefix
            return try AdapterRouting.$sequenceAdapters.withValue(adapters) { try pass() }
        }
        scheduler = BatchScheduler(batch: batch, maxBatch: maxBatch)
    }

    deinit { scheduler.stop() }

    /// Attaches the PEFT adapter in `folder` as `adapterName`, between two decoding steps (requests
    /// for other adapters go on).
    /// - Throws: `OpenAIError` 400 for a name in use or an adapter that cannot be loaded (naming why).
    public func load(adapterName: String, folder: URL) throws {
        guard !adapterName.isEmpty, adapterName != name, !adapterNames.contains(adapterName) else {
            throw OpenAIError(status: 400, "the name '\(adapterName.prefix(100))' is already served", param: "lora_name")
        }
        do {
            try scheduler.perform { [self] in
                if let peft { try peft.loadAdapter(from: folder, adapterName: adapterName) } else { peft = try PeftModel.load(model as Module, adapter: folder, adapterName: adapterName) }
                recordPrompt(of: adapterName)
            }
        } catch {
            throw OpenAIError(status: 400, "cannot load '\(folder.path.prefix(200))': \(error)", param: "lora_path")
        }
        names.withLock { $0.append(adapterName) }
    }

    /// Detaches adapter `adapterName`: new requests for it are refused at once, and it is removed
    /// once the requests already using it have finished.
    /// - Throws: `OpenAIError` 404 for a name not served.
    public func unload(adapterName: String) throws {
        let served = names.withLock { names in
            guard let index = names.firstIndex(of: adapterName) else { return false }
            names.remove(at: index)
            return true
        }
        guard served else {
            throw OpenAIError(status: 404, "no adapter named '\(adapterName.prefix(100))' is served", param: "lora_name", code: "model_not_found")
        }
        do {
            try scheduler.perform(when: { !$0.contains(adapterName) }) { [self] in
                guard let peft else { return }
                if peft.adapterNames == [adapterName] {
                    _ = try peft.unload()
                    self.peft = nil
                } else {
                    if peft.activeAdapter == adapterName { try peft.setActiveAdapter(peft.adapterNames.first { $0 != adapterName }!) }
                    try peft.deleteAdapter(adapterName)
                }
            }
        } catch {
            throw OpenAIError(status: 500, "cannot unload '\(adapterName)': \(error)", type: "server_error")
        }
        prompts.withLock { $0[adapterName] = nil }
    }

    /// Keeps adapter `name`'s virtual tokens when it is prompt tuning.
    private func recordPrompt(of name: String) {
        if let embeddings = peft?.promptEmbeddings(of: name) { prompts.withLock { $0[name] = embeddings } }
    }

    /// Runs `body` with a generator for `model` (the base's name or an adapter's) whose tokens come
    /// from the batch.
    /// - Throws: `OpenAIError` 404 for an unknown name, 503 when the queue is full.
    func run<Result>(model requested: String, _ body: (TextGenerator) throws -> Result) throws -> Result {
        guard requested == name || adapterNames.contains(requested) else {
            throw OpenAIError(status: 404, "the model '\(requested.prefix(100))' does not exist; this server has \(([name] + adapterNames).joined(separator: ", "))",
                              param: "model", code: "model_not_found")
        }
        // Admitted: up to maxBatch running and maxQueue waiting.
        let limit = maxBatch + maxQueue
        try admission.withLock {
            guard admitted < limit else {
                throw OpenAIError(status: 503, "the server is busy: \(admitted) requests are running or waiting (at most \(maxBatch) running and \(maxQueue) waiting)",
                                  type: "server_error", code: "overloaded")
            }
            admitted += 1
        }
        defer { admission.withLock { admitted -= 1 } }
        let adapter = requested == name ? nil : requested
        var generator = try TextGenerator(model: model, tokenizer: tokenizer, prefix: adapter.flatMap { name in prompts.withLock { $0[name] } })
        generator.tokenSource = { [scheduler] prompt, options, prefix, onScores, onToken in
            try scheduler!.generate(prompt: prompt, options: options, adapter: adapter, prefix: prefix, onScores: onScores, onToken: onToken)
        }
        return try body(generator)
    }

    /// The prompt's token ids for `input`.
    func promptIDs(_ input: CompletionRequest.Input) throws -> [Int] {
        switch input {
        case let .chat(messages): try tokenizer.encodeChat(messages, addGenerationPrompt: true)
        case let .text(text): try tokenizer.encode(text)
        }
    }

    /// How many decoding passes ran with each number of sequences so far.
    var decodingPassSizes: [Int: Int] { scheduler.decodingPassSizes }

    /// Holds the scheduler between two steps (calling `held` once it is) until `pending` requests
    /// wait to join (tests: requests started together join one batch, however fast the machine).
    func holdScheduler(until pending: Int, held: @escaping () -> Void) throws { try scheduler.hold(until: pending, held: held) }

    /// Context positions the model has.
    var contextLength: Int { model.contextLength }
    /// Virtual tokens an adapter puts before the prompt (prompt tuning), which count against the context.
    func virtualTokens(_ adapter: String) -> Int {
        prompts.withLock { $0[adapter]?.shape[0] } ?? 0
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
