import NN

/// The modules an adapter wraps when its configuration names none: Hugging Face PEFT's tables,
/// keyed there by model type and here kept with each model family (the one place PEFTKit holds them).
public struct DefaultAdapterTargets: Sendable, Equatable {
    /// Low-rank methods (LoRA and its variants, LoHa, LoKr, VeRA, AdaLoRA): PEFT gives all of them
    /// the same table, usually the attention query and value projections.
    public var lowRank: [String]
    /// IA³'s targets.
    public var ia3: [String]
    /// The IA³ targets that are feed-forward modules (their input, not their output, is scaled).
    public var ia3Feedforward: [String]

    /// A table entry.
    public init(lowRank: [String], ia3: [String], ia3Feedforward: [String]) {
        self.lowRank = lowRank
        self.ia3 = ia3
        self.ia3Feedforward = ia3Feedforward
    }

    /// Llama's entry (also Mistral's and most decoders').
    public static let llama = DefaultAdapterTargets(lowRank: ["q_proj", "v_proj"], ia3: ["k_proj", "v_proj", "down_proj"], ia3Feedforward: ["down_proj"])
    /// GPT-2's entry (fused `c_attn`, `Conv1D` layers).
    public static let gpt2 = DefaultAdapterTargets(lowRank: ["c_attn"], ia3: ["c_attn", "mlp.c_proj"], ia3Feedforward: ["mlp.c_proj"])
    /// BERT's entry.
    public static let bert = DefaultAdapterTargets(lowRank: ["query", "value"], ia3: ["key", "value", "output.dense"], ia3Feedforward: ["output.dense"])
}

/// A model that knows its family's default adapter targets.
public protocol HasDefaultAdapterTargets {
    /// The targets adapters take when their configuration names none.
    var defaultAdapterTargets: DefaultAdapterTargets { get }
}

extension DecoderForCausalLM: HasDefaultAdapterTargets {
    /// The family's entry.
    public var defaultAdapterTargets: DefaultAdapterTargets { family.adapterTargets }
}

extension LlamaForSequenceClassification: HasDefaultAdapterTargets {
    /// The family's entry.
    public var defaultAdapterTargets: DefaultAdapterTargets { configuration.family.adapterTargets }
}

extension GPT2LMHeadModel: HasDefaultAdapterTargets {
    /// GPT-2's entry.
    public var defaultAdapterTargets: DefaultAdapterTargets { .gpt2 }
}

extension BertModel: HasDefaultAdapterTargets {
    /// BERT's entry.
    public var defaultAdapterTargets: DefaultAdapterTargets { .bert }
}

extension BertForSequenceClassification: HasDefaultAdapterTargets {
    /// BERT's entry.
    public var defaultAdapterTargets: DefaultAdapterTargets { .bert }
}
