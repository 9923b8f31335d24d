// Instruction tuning in a dozen lines: SmolLM2-135M-Instruct learns to rewrite dates as DD/MM/YYYY.
//
//   swift run -c release InstructionTuning [--model PATH] [--train FILE] [--eval FILE] [--retain FILE] [--method lora|dora|rslora]
//       [--rank 8] [--alpha 32] [--targets q_proj,v_proj] [--steps 40] [--batch-size 8] [--learning-rate 2e-3]
//       [--eval-examples 40] [--quantization float|gguf|q8_0|q4_1|nf4] [--output DIR]
//
// (Scripts/demo.sh fetches the model first and runs this.) The steps below are the whole recipe:
// load, measure the base model, attach LoRA, train, measure again, save the adapter. Along the way
// the forgetting monitor measures how far the model drifts on 30 general questions (data/general.jsonl).
import Foundation
import PEFTKit

AllocatorTuning.keepFreedMemory()  // steps and decoding reuse freed memory instead of faulting in fresh pages

do {
    let options = try DemoOptions(CommandLine.arguments.dropFirst())
    let tokenizer = try Tokenizer.load(from: options.model)
    let model = try AutoModelForCausalLM.load(from: options.model, quantization: options.quantization)  // .keepGGUF: QLoRA
    let train = try TrainingDataset.load(options.train, tokenizer: tokenizer, maxLength: 256)
    var eval = try TrainingDataset.load(options.eval, tokenizer: tokenizer, maxLength: 256)
    eval.examples = Array(eval.examples.prefix(options.evalExamples))
    let general = try TrainingDataset.load(options.retain, tokenizer: tokenizer, maxLength: 256)  // what the model should keep

    // 1. The base model on held-out questions, and on a general one.
    let before = Evaluator(head: .languageModel(model), tokenizer: tokenizer, maxNewTokens: 16)
    report("Base model", try before.metrics(eval, exactMatch: true), try before.answers(model, eval, limit: 3))
    let ask = Evaluator(head: .languageModel(model), tokenizer: tokenizer, maxNewTokens: 24)
    reportGeneral("\"Why is the sky blue?\"", try ask.answers(model, general, limit: 1))

    // 2. Attach LoRA: the base is frozen, only the adapter trains.
    let adapter = LoRAConfig(rank: options.rank, alpha: options.alpha, dropout: 0.05, targetModules: options.targets,
                             useRSLoRA: options.method == "rslora", useDoRA: options.method == "dora")
    let peft = try PeftModel(model, configuration: adapter)
    say(peft.trainableParameterSummary)

    // 3. Train, with a progress bar; Ctrl-C stops after the current step and saves a checkpoint.
    var arguments = TrainingArguments(outputDirectory: options.output.path, learningRate: options.learningRate,
                                      maxSteps: options.steps, batchSize: options.batchSize)
    arguments.warmupSteps = max(1, options.steps / 8)
    arguments.overwriteOutput = true
    arguments.handlesInterrupt = true
    arguments.evalSteps = max(1, options.steps / 4)  // the forgetting monitor measures at each evaluation
    let trainer = try Trainer(model: peft, arguments: arguments, train: train, retain: [("general", general)], tokenizer: tokenizer,
                              callbacks: [ProgressBar()])
    let summary = try trainer.train()

    // 4. The same questions after training; the adapter is already saved in Hugging Face PEFT's format.
    let after = Evaluator(head: .languageModel(model), tokenizer: tokenizer, maxNewTokens: 16)
    report("After \(summary.steps) steps", try after.metrics(eval, exactMatch: true), try after.answers(model, eval, limit: 3))
    reportGeneral("\"Why is the sky blue?\"", try ask.answers(model, general, limit: 1))
    reportForgetting(trainer.state.logHistory)
    say("adapter: \(options.output.path) (adapter_config.json, adapter_model.safetensors); \(String(format: "%.0f", summary.trainRuntime)) s of training")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
