import Autograd
import NN

/// The peak resident memory of a LoRA training step on a decoder model, predicted from the model's
/// size and structure, the batch and the sequence length.
///
/// A step's peak comes at the start of the backward pass, when everything the forward pass kept for
/// it is alive at once:
///
///     peak ≈ runtime + weights + L · B · T · (n·h + q + 2·kv + [q + kv] + m·I + A) · 4 bytes
///            + B · T · (3I + 2h) · 4 bytes + 3 · min(N, 128) · V · 4 bytes
///
/// - `weights`: 4 bytes per float parameter plus the bytes of packed (quantized) matrices.
/// - Per decoder layer and token, the backward keeps:
///   - every RMSNorm's input and the first norm's output (read by the adapters on `q_proj`/`v_proj`):
///     n·h with n = 3 for norms before the sublayers (Llama, Mistral, Qwen, Phi-3) and n = 5 for
///     norms around them (Gemma 3: four norms);
///   - the rotated query and the key and value, q + 2·kv (q = heads × head size, kv = key-value
///     heads × head size), and with per-head query/key norms (Qwen3, Gemma 3) their inputs, q + kv;
///   - the MLP's gate and up projections, m·I with m = 2 for the fused SwiGLU/GeGLU and 3 for exact
///     GELU (the activation's output too);
///   - attention's own state A: the probabilities, H·T, below 384 tokens, and from 384 on
///     (`TiledAttention`) the output and one log-sum-exp per head, H·(D + 1).
///
///   Frozen projections keep nothing (their input gradient needs only the weight), and the adapters'
///   rank-r intermediates are negligible. For a Llama (q = h) this is 4h + 2·kv + 2I + A.
/// - While the last layer's backward runs, its gradients add B · T · (3I + 2h) floats: the MLP's
///   three intermediate-width gradients and two hidden-width ones (counted in `activations`).
/// - The vocabulary head runs only at the N labelled positions, 128 at a time
///   (`chunkedCrossEntropySum`): one chunk's logits, their exponentials and their gradient,
///   3 · min(N, 128) · V floats.
/// - `runtime`: the process itself (Swift runtime, tokenizer, dataset, packing buffers), about 70 MB.
/// - `trainable`: what training adds per trainable value (its gradient and AdamW's two moments,
///   12 bytes; the value itself is among the weights once attached, 4 more bytes before).
///   Negligible at r = 8; what decides at r = 65536.
///
/// With gradient checkpointing a layer keeps only its input (h per token) and one layer's
/// activations are alive at a time. For models outside the decoder families (GPT-2, BERT) only
/// weights, trainable state, logits and runtime are counted.
///
/// The estimate is checked against the measured peak by `TrainingStepBenchmark` and, on real models
/// from 135M to 1B parameters, by `Benchmarks/TrainingMemory/check.sh`.
public struct TrainingMemory: Sendable, Equatable {
    /// Bytes of the weights as stored (float parameters and packed matrices).
    public var weights: Int
    /// Bytes the forward pass keeps for the backward pass.
    public var activations: Int
    /// Bytes of one chunk of vocabulary logits, their exponentials and their gradient.
    public var logits: Int
    /// The process's own memory (runtime, tokenizer, data, buffers), a constant.
    public var runtime: Int
    /// Bytes of the trainable values' gradients and optimizer moments (and the values themselves
    /// when they are not attached yet).
    public var trainable = 0

    /// The predicted peak resident bytes.
    public var total: Int { weights + activations + logits + runtime + trainable }

    /// The process's own memory that `runtime` assumes.
    public static let runtimeBytes = 70 << 20

    /// The estimate for `model` training on `batch` rows of `length` tokens, `labelled` of which
    /// carry a loss.
    public static func estimate(for model: DecoderForCausalLM, batch: Int, length: Int, labelled: Int) -> TrainingMemory {
        let c = model.configuration
        let floats = model.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
        let packed = model.namedPackedParameters().reduce(0) { $0 + $1.matrix.byteCount }
        return TrainingMemory(weights: 4 * floats + packed,
                              activations: c.layerCount * batch * length * keptPerToken(c, length: length) * 4
                                  + batch * length * backwardWorkingSetPerToken(c) * 4,
                              logits: 3 * min(labelled, chunkedCrossEntropyDefaultRows) * c.vocabularySize * 4,
                              runtime: runtimeBytes)
    }

    /// The floats per token that the last layer's backward pass holds on top of everything kept: the
    /// MLP's three intermediate-width gradients (of the down projection's input, the gate and the up
    /// projection) and two hidden-width ones (the block's output gradient and the residual sum).
    static func backwardWorkingSetPerToken(_ c: DecoderConfiguration) -> Int { 3 * c.intermediateSize + 2 * c.hiddenSize }

    /// The floats one decoder layer keeps for backward per token of a `length`-token sequence (see
    /// the formula above).
    static func keptPerToken(_ c: DecoderConfiguration, length: Int) -> Int {
        let (query, keyValue) = (c.attentionHeads * c.headDimension, c.keyValueHeads * c.headDimension)
        let norms = (c.family.normPlacement == .aroundSublayers ? 5 : 3) * c.hiddenSize
        let queryKeyNorms = c.family.normalizesQueriesAndKeys ? query + keyValue : 0
        let mlp = (c.activation == .gelu ? 3 : 2) * c.intermediateSize
        let attention = TiledAttention.applies(queries: length, keys: length) ? c.attentionHeads * (c.headDimension + 1) : c.attentionHeads * length
        return norms + query + 2 * keyValue + queryKeyNorms + mlp + attention
    }

    /// The parts in words, for messages: "weights 0.2 GB, activations 3.1 GB, …".
    public var breakdown: String {
        [("weights", weights), ("activations", activations), ("logits", logits), ("adapter, gradients and optimizer state", trainable)]
            .filter { $0.1 > 0 }.map { "\($0.0) \(MachineMemory.describe($0.1))" }.joined(separator: ", ")
    }

    /// The estimate for any model, before its adapter is attached: `trainableCount` values will be
    /// added and trained with AdamW (16 bytes each), on `batch` rows of `length` tokens.
    public static func estimate(for model: Module, batch: Int, length: Int, labelled: Int, trainableCount: Int,
                                gradientCheckpointing: Bool = false) -> TrainingMemory {
        var memory: TrainingMemory
        if let decoder = model as? DecoderForCausalLM {
            memory = estimate(for: decoder, batch: batch, length: length, labelled: labelled)
            if gradientCheckpointing {
                let c = decoder.configuration
                let workingSet = batch * length * backwardWorkingSetPerToken(c) * 4
                let oneLayer = (memory.activations - workingSet) / max(1, c.layerCount)
                memory.activations = c.layerCount * batch * length * c.hiddenSize * 4 + oneLayer + workingSet
            }
        } else {
            let floats = model.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
            let packed = model.namedPackedParameters().reduce(0) { $0 + $1.matrix.byteCount }
            memory = TrainingMemory(weights: 4 * floats + packed, activations: 0, logits: 0, runtime: runtimeBytes)
        }
        memory.trainable = 16 * trainableCount
        return memory
    }
}
