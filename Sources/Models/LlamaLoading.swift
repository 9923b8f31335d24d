import Foundation
import ModelIO
import NN
import Tensors

extension LlamaForCausalLM {
    /// Loads a model from a `.gguf` file or a Hugging Face folder (`config.json` + `model.safetensors`,
    /// possibly sharded through `model.safetensors.index.json`).
    public static func load(from url: URL) throws -> LlamaForCausalLM {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelError.file(.unreadable(path: url.path, reason: "no such file or folder"))
        }
        if isDirectory.boolValue { return try load(folder: url) }
        do { return try load(gguf: try GGUFFile(contentsOf: url)) } catch let error as ModelFileError { throw ModelError.file(error) }
    }

    /// GGUF tensor names → Hugging Face names, for the Llama family.
    static func huggingFaceName(forGGUF name: String) -> String? {
        let fixed = ["token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                     "output.weight": "lm_head.weight"]
        if let mapped = fixed[name] { return mapped }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]) else { return nil }
        let suffix = ["attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                      "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                      "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                      "ffn_down": "mlp.down_proj"][String(parts[2])]
        guard let suffix else { return nil }
        return "model.layers.\(layer).\(suffix).\(parts[3])"
    }

    /// Undoes llama.cpp's q/k row permutation: GGUF row `2i + s` of each head holds HF row `s·hd/2 + i`.
    static func unpermute(_ values: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        let headDimension = rows / heads
        var out = [Float](repeating: 0, count: values.count)
        for head in 0..<heads {
            for s in 0..<2 {
                for i in 0..<(headDimension / 2) {
                    let source = head * headDimension + 2 * i + s
                    let target = head * headDimension + s * headDimension / 2 + i
                    for c in 0..<columns { out[target * columns + c] = values[source * columns + c] }
                }
            }
        }
        return out
    }

    /// Builds the model described by a GGUF file and loads its (dequantized) weights.
    public static func load(gguf: GGUFFile) throws -> LlamaForCausalLM {
        let configuration = try LlamaConfiguration(gguf: gguf)
        var shapes: [String: [Int]] = [:]
        for tensor in gguf.tensors {
            if let name = huggingFaceName(forGGUF: tensor.name) { shapes[name] = Array(tensor.dimensions.reversed()) }
        }
        try configuration.parameterPlan().verify(against: shapes)  // before anything is allocated
        let model = try LlamaForCausalLM(configuration)
        let arch = gguf.metadata["general.architecture"]?.string ?? "llama"
        var state: [String: Tensor] = [:]
        var unexpected: [String] = []
        for tensor in gguf.tensors {
            guard let name = huggingFaceName(forGGUF: tensor.name) else { unexpected.append(tensor.name); continue }
            let shape = Array(tensor.dimensions.reversed())
            var values: [Float]
            do { values = try gguf.floats(of: tensor) } catch let error as ModelFileError { throw ModelError.file(error) }
            if arch == "llama" && shape.count == 2 && (name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")) {
                let heads = name.hasSuffix("q_proj.weight") ? configuration.attentionHeads : configuration.keyValueHeads
                values = unpermute(values, rows: shape[0], columns: shape[1], heads: heads)
            }
            state[name] = Tensor(values, shape: shape)
        }
        try model.load(state: state, unexpected: unexpected)
        return model
    }

    /// Loads `config.json` and safetensors weights from a Hugging Face folder.
    public static func load(folder: URL) throws -> LlamaForCausalLM {
        let configuration = try LlamaConfiguration(json: try Checkpoint.configuration(in: folder))
        let files = try Checkpoint.files(in: folder)
        try configuration.parameterPlan().verify(against: Checkpoint.tensorShapes(of: files))
        let model = try LlamaForCausalLM(configuration)
        try model.load(state: try Checkpoint.weights(of: files), unexpected: [])
        return model
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
