import Foundation
import ModelIO
import NN
import Tensors

extension DecoderForCausalLM {
    /// Loads a model from a `.gguf` file or a Hugging Face folder (`config.json` + `model.safetensors`,
    /// possibly sharded through `model.safetensors.index.json`).
    public static func load(from url: URL, quantization: WeightQuantization = .none) throws -> DecoderForCausalLM {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelError.file(.unreadable(path: url.path, reason: "no such file or folder"))
        }
        if isDirectory.boolValue { return try load(folder: url, quantization: quantization) }
        do { return try load(gguf: try GGUFFile(contentsOf: url), quantization: quantization) } catch let error as ModelFileError { throw ModelError.file(error) }
    }

    /// Undoes llama.cpp's q/k row permutation: GGUF row `2i + s` of each head holds HF row `s·hd/2 + i`.
    /// Rows move whole, so this works on float rows and on rows of quantized blocks (`columns` bytes).
    static func unpermute<Element>(_ values: [Element], rows: Int, columns: Int, heads: Int) -> [Element] {
        GGUFQueryKeyOrder.fromGGUF(values, rows: rows, columns: columns, heads: heads)
    }

    /// Builds the model described by a GGUF file and loads its weights: dequantized (`.none`), the
    /// blocks' linear weights and the token table (with the head tied to it) kept packed as stored
    /// (`.keepGGUF`), or the blocks' linear weights quantized (`.quantize`).
    public static func load(gguf: GGUFFile, quantization: WeightQuantization = .none) throws -> DecoderForCausalLM {
        let configuration = try DecoderConfiguration(gguf: gguf)
        let family = configuration.family
        var shapes: [String: [Int]] = [:]
        for tensor in gguf.tensors {
            if let name = family.huggingFaceName(forGGUF: tensor.name) { shapes[name] = Array(tensor.dimensions.reversed()) }
        }
        let plan = configuration.parameterPlan()
        try plan.verify(against: shapes)  // before anything is allocated
        let planned = Set(plan.shapes.map(\.name))
        let model = try ParameterInitialization.deferred { try DecoderForCausalLM(configuration) }  // every weight is loaded strictly below
        let permutes = family.ggufPermutesQueryKey
        var state: [String: Tensor] = [:]
        var unexpected: [String] = []
        for tensor in gguf.tensors {
            if DecoderConfiguration.ggufRopeTensors.contains(tensor.name) { continue }  // read into the rotary scaling
            guard let name = family.huggingFaceName(forGGUF: tensor.name) else { unexpected.append(tensor.name); continue }
            let shape = Array(tensor.dimensions.reversed())
            // .keepGGUF: the blocks' linear weights and the token table (with the head tied to it)
            // stay packed as the file stores them.
            let isBlockLinear = name.hasPrefix("model.layers.") && name.hasSuffix("_proj.weight")
            if quantization == .keepGGUF, let format = QuantizedMatrix.Format(gguf: tensor.type), shape.count == 2,
               isBlockLinear || name == "model.embed_tokens.weight" {
                // Used in place in the mapped file, except q/k, whose rows GGUF stores permuted.
                let matrix: QuantizedMatrix
                do {
                    if permutes && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")) {
                        let heads = name.hasSuffix("q_proj.weight") ? configuration.attentionHeads : configuration.keyValueHeads
                        let bytes = [UInt8](gguf.bytes(of: tensor))
                        matrix = try QuantizedMatrix(format: format, rows: shape[0], columns: shape[1],
                                                     bytes: unpermute(bytes, rows: shape[0], columns: bytes.count / shape[0], heads: heads))
                    } else if let (bytes, owner) = gguf.mappedBytes(of: tensor) {
                        matrix = try QuantizedMatrix(format: format, rows: shape[0], columns: shape[1], borrowing: bytes, keepingAlive: owner)
                    } else {
                        matrix = try QuantizedMatrix(format: format, rows: shape[0], columns: shape[1], bytes: [UInt8](gguf.bytes(of: tensor)))
                    }
                } catch let error as TensorError {
                    throw ModelError.invalidConfiguration(field: tensor.name, reason: error.description)
                }
                let path = String(name.dropLast(".weight".count))
                if !isBlockLinear {
                    try model.replaceModule(at: path, with: QuantizedEmbedding(table: matrix))
                    continue
                }
                // The bias (if the plan has one) is loaded into it below, by name.
                let bias = planned.contains(path + ".bias") ? Tensor.zeros([shape[0]]) : nil
                try model.replaceModule(at: path, with: QuantizedLinear(weight: matrix, bias: bias))
                continue
            }
            let value: Tensor
            do {
                if permutes && shape.count == 2 && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")) {
                    let heads = name.hasSuffix("q_proj.weight") ? configuration.attentionHeads : configuration.keyValueHeads
                    value = Tensor(unpermute(try gguf.floats(of: tensor), rows: shape[0], columns: shape[1], heads: heads), shape: shape)
                } else if family.ggufNormsIncludeOffset && name.hasSuffix("norm.weight") {
                    // The converter stored weight + offset; the model adds the offset itself.
                    value = Tensor(try gguf.floats(of: tensor).map { $0 - family.normWeightOffset }, shape: shape)
                } else {
                    value = try Tensor.loading(tensor, from: gguf, shape: shape)
                }
            } catch let error as ModelFileError { throw ModelError.file(error) }
            if case let .quantize(format) = quantization, try model.quantizeBlockLinear(name, value, to: format, planned: planned) { continue }
            state[name] = value
        }
        try model.load(state: state, unexpected: unexpected)
        gguf.mapping?.evictResidentPages()  // pages converted or quantized above are held in owned memory now
        return model
    }

    /// Loads `config.json` and safetensors weights from a Hugging Face folder, then quantizes the
    /// blocks' linear layers when `quantization` is `.quantize`.
    public static func load(folder: URL, quantization: WeightQuantization = .none) throws -> DecoderForCausalLM {
        let configuration = try DecoderConfiguration(json: try Checkpoint.configuration(in: folder))
        let files = try Checkpoint.files(in: folder)
        let plan = configuration.parameterPlan()
        try plan.verify(against: Checkpoint.tensorShapes(of: files))
        let model = try ParameterInitialization.deferred { try DecoderForCausalLM(configuration) }  // every weight is loaded strictly below
        guard case let .quantize(format) = quantization else {
            try model.load(state: try Checkpoint.weights(of: files), unexpected: [])
            return model
        }
        // Each block linear is quantized as soon as it is read, so the float model never exists
        // whole: the load peaks near the packed model plus one float matrix (a 1B-class bf16
        // checkpoint would otherwise pass through 5 GB of float32 on its way to 0.7 GB packed).
        let planned = Set(plan.shapes.map(\.name))
        let state = try Checkpoint.weights(of: files) { name, value in
            try model.quantizeBlockLinear(name, value, to: format, planned: planned)
        }
        try model.load(state: state, unexpected: [])
        return model
    }

    /// Replaces the block linear whose weight is `name` (`model.layers.…_proj.weight`) by a
    /// `QuantizedLinear` holding `value` quantized to `format`, its bias (if `planned` has one) to be
    /// loaded by name. Returns false, changing nothing, for any other tensor and for a layer whose
    /// input size is not a multiple of the block (it stays float, as `quantizeLinearLayers` leaves it).
    /// - Throws: `ModelError.invalidConfiguration` naming a weight that cannot be quantized (non-finite values).
    func quantizeBlockLinear(_ name: String, _ value: Tensor, to format: QuantizedMatrix.Format, planned: Set<String>) throws -> Bool {
        guard name.hasPrefix("model.layers.") && name.hasSuffix("_proj.weight"), value.shape.count == 2,
              value.shape[1] % format.blockValues == 0 else { return false }
        let path = String(name.dropLast(".weight".count))
        guard module(at: path) is Linear else { return false }
        let matrix = try Self.quantized(value, to: format, layer: path)
        let bias = planned.contains(path + ".bias") ? Tensor.zeros([value.shape[0]]) : nil
        try replaceModule(at: path, with: QuantizedLinear(weight: matrix, bias: bias))
        return true
    }

    /// Loads weights by HF name; missing required weights are an error, unknown ones are reported.
    func load(state: [String: Tensor], unexpected extra: [String]) throws {
        var state = state
        // A checkpoint may carry lm_head even when embeddings are tied; rotary caches are not weights.
        for key in state.keys where key.hasSuffix("rotary_emb.inv_freq") { state.removeValue(forKey: key) }
        if configuration.tieWordEmbeddings { state.removeValue(forKey: "lm_head.weight") }
        let report = try loadCheckpointWeights(state)
        loadReport = StateDictionaryReport(unexpectedKeys: (report.unexpectedKeys + extra).sorted())
    }
}
