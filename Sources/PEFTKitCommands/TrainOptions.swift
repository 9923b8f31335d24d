import Models
import PEFT
import Tensors
import Training

/// Every option of `peftkit train`, declared once: the help text, the parser, the typed values and
/// the `--config` keys come from here (the adapter methods' options from the registry).
extension TrainCommand {
    static let modelAndData: [CommandOption] = [
        CommandOption("model", "PATH", "A .gguf file or a Hugging Face folder", .text),
        CommandOption("train", "FILE", "Training data (.json array or .jsonl)", .text),
        CommandOption("eval", "FILE", "Evaluation data", .text, defaultDescription: "none, or --eval-fraction of --train"),
        CommandOption("eval-fraction", "F", "Hold out this fraction of --train for evaluation", .number(default: 0, range: 0...0.9)),
        CommandOption("output", "DIR", "Where the adapter, checkpoints and logs go", .text),
        CommandOption("overwrite", "", "Allow an output folder that already holds results", .flag),
        CommandOption("format", "NAME", "auto, prompt-response, alpaca, chat, completion, text or classification",
                      .choice(default: DatasetFormat.automatic.rawValue, among: DatasetFormat.allCases.map(\.rawValue))),
        CommandOption("prompt-format", "NAME", "chat (the model's template) or plain (### Instruction / ### Response)",
                      .choice(default: "chat", among: ["chat", "plain"])),
        CommandOption("chat-template", "FILE", ChatTemplateOption.help, .text),
        CommandOption("max-length", "N", "Truncate examples to N tokens", .integer(default: 512, range: 2...(1 << 20))),
        CommandOption("train-on-prompt", "", "Take the loss on prompt tokens too", .flag),
        CommandOption("packing", "", "Pack short examples into rows of --max-length tokens (attention stays inside each)", .flag),
    ]

    static let training: [CommandOption] = [
        CommandOption("learning-rate", "LR", "Peak learning rate", .number(default: 2e-4, range: 0...10)),
        CommandOption("batch-size", "N", "Examples per micro-batch", .integer(default: 8, range: 1...(1 << 16))),
        CommandOption("gradient-accumulation", "K", "Micro-batches per update", .integer(default: 1, range: 1...(1 << 16))),
        CommandOption("epochs", "E", "Passes over the data", .number(default: 1, range: 1e-6...1_000_000)),
        CommandOption("max-steps", "N", "Optimizer steps (overrides --epochs)", .integer(default: nil, range: 1...Int.max)),
        CommandOption("warmup-steps", "N", "Linear warm-up", .integer(default: 0, range: 0...Int.max)),
        CommandOption("schedule", "NAME", "constant, linear or cosine", .choice(default: "linear", among: WarmupSchedule.Shape.allCases.map(\.rawValue))),
        CommandOption("weight-decay", "W", "AdamW weight decay", .number(default: 0, range: 0...10)),
        CommandOption("max-grad-norm", "G", "Clip the global gradient norm (0 = off)", .number(default: 1, range: 0...1e9)),
        CommandOption("seed", "S", "Seed of adapter initialisation, dropout and data order", .unsigned(default: 0)),
        CommandOption("logging-steps", "N", "Log the training loss every N steps", .integer(default: 10, range: 1...Int.max)),
        CommandOption("eval-every", "N", "Evaluate every N steps", .integer(default: nil, range: 1...Int.max), defaultDescription: "every epoch"),
        CommandOption("save-every", "N", "Save a checkpoint every N steps", .integer(default: nil, range: 1...Int.max),
                      defaultDescription: "only when stopped early"),
        CommandOption("save-total-limit", "K", "Keep the newest K checkpoints and the best", .integer(default: 2, range: 1...Int.max)),
        CommandOption("early-stopping-patience", "N", "Stop after N evaluations without a better eval loss (restores the best)",
                      .integer(default: nil, range: 1...Int.max)),
        CommandOption("retain", "[NAME=]FILE", """
            General data to keep: every evaluation logs retain_NAME_loss and retain_NAME_kl,
            the mean per-token KL(base ‖ model) on its answers (repeatable; eval_kl is
            logged for --eval the same way)
            """, .text, repeatable: true),
        CommandOption("max-retain-kl", "X", "Stop when a retain KL passes X nats per token and keep the last weights within it",
                      .number(default: nil, range: 0...1_000_000)),
        CommandOption("report-to", "LIST", "Also log to: tensorboard (event files in DIR/tensorboard) or none", .text, defaultDescription: "none"),
        CommandOption("retain-mix", "FILE:FRACTION", "Replay: mix examples of FILE into training so they make up FRACTION (≤ 0.9)", .text),
        CommandOption("kl-anchor", "λ", """
            Add λ · KL(base ‖ model) on each batch's answer tokens to the loss (keeps the
            model near its base; one more forward pass per micro-batch)
            """, .number(default: nil, range: 0...1_000_000)),
        CommandOption("gradient-checkpointing", "", "Recompute block activations in backward (less memory, more compute)", .flag),
        CommandOption("quantization", "NAME", """
            float, gguf (keep a GGUF's Q8_0/Q4_0/Q4_1 blocks packed: QLoRA),
            q8_0, q4_1 or nf4 (quantize the blocks' linear weights at load)
            """, .choice(default: "float", among: WeightQuantization.names)),
        CommandOption("matmul-precision", "NAME", """
            float32, float16 or bfloat16: mixed-precision large products in training
            steps. float16: about twice as fast on CPUs with AVX512-FP16 (Intel Xeons), relative
            error ~1e-3. bfloat16: for CPUs with AVX512-BF16 but no FP16 (AMD Zen 4/5), relative
            error ~2e-3. Either computes in float32 on a CPU without its instructions
            """, .choice(default: MatmulPrecision.float32.rawValue, among: MatmulPrecision.allCases.map(\.rawValue))),
        CommandOption("exact-match", "", "Also measure exact match of greedy answers at each evaluation", .flag),
        CommandOption("max-new-tokens", "N", "Tokens generated per answer for exact match", .integer(default: 32, range: 0...(1 << 16))),
        CommandOption("resume", "DIR", "Continue from a checkpoint (or the newest one in DIR)", .text),
        CommandOption("init-adapter", "DIR", """
            Start from this PEFT adapter's configuration and weights instead of a fresh
            initialization (adapter flags given must agree with it)
            """, .text),
        CommandOption("config", "FILE.json", "Options from a JSON object ({\"rank\": 16, \"learning-rate\": 1e-4}); flags win", .text),
        CommandOption("profile", "FILE.md", """
            Time every step but the first operation by operation (forward, backward, clipping, the
            optimizer; matrix-product GFLOP/s) and write the table here, in Markdown
            """, .text),
        CommandOption("quiet", "", "No progress output", .flag),
    ]

    /// Every option, in help sections (the adapter section from the method registry).
    static var declarations: CommandOptions {
        CommandOptions(sections: [("MODEL AND DATA", modelAndData), ("ADAPTER", AdapterOptions.declarations), ("TRAINING", training)])
    }
}
