// Text classification: all-MiniLM-L6-v2 learns the topic of a sentence (sports, weather, cooking,
// money) with LoRA on its attention and a new classification head trained in full.
//
//   swift run -c release TextClassification [--model DIR] [--train FILE] [--eval FILE] [--rank 8] [--alpha 16]
//       [--epochs 3] [--batch-size 16] [--learning-rate 1e-3] [--output DIR]
//
// Needs the model: Scripts/fetch-models.sh minilm. Accuracy, macro F1 and the confusion matrix are
// printed before and after; training stops early when the eval F1 stops improving.
import Foundation
import PEFTKit

AllocatorTuning.keepFreedMemory()

do {
    let options = try ClassificationOptions(CommandLine.arguments.dropFirst())
    let tokenizer = try Tokenizer.load(from: options.model)
    let train = try TrainingDataset.load(options.train, tokenizer: tokenizer, maxLength: 128)
    guard case let .classification(labels) = train.task else { throw ExampleError("\(options.train.path) is not a {text, label} file") }
    let eval = try TrainingDataset.load(options.eval, tokenizer: tokenizer, maxLength: 128, labels: labels)

    // 1. The encoder with a new, untrained head of one score per label.
    let model = try BertForSequenceClassification.load(encoderFolder: options.model, labels: labels.count, seed: 1)
    let before = try Evaluator(head: .classifier(model), tokenizer: tokenizer, batchSize: 32).classification(eval).scores
    show("Before training", before, labels)

    // 2. LoRA on query/value; the head trains in full through modules_to_save.
    let adapter = LoRAConfig(rank: options.rank, alpha: options.alpha, dropout: 0.1, targetModules: .names(["query", "value"]),
                             modulesToSave: ["classifier"], taskType: "SEQ_CLS")
    let peft = try PeftModel(model, configuration: adapter)
    say(peft.trainableParameterSummary)

    // 3. Train, evaluating every 25 steps; stop when eval F1 has not improved for 3 evaluations.
    var arguments = TrainingArguments(outputDirectory: options.output.path, learningRate: options.learningRate,
                                      epochs: options.epochs, batchSize: options.batchSize)
    arguments.evalSteps = 25
    arguments.metricForBestModel = "eval_f1"
    arguments.overwriteOutput = true
    let trainer = try Trainer(model: peft, arguments: arguments, train: train, eval: eval, tokenizer: tokenizer,
                              callbacks: [ProgressBar(), EarlyStopping(patience: 3, minimumDelta: 0.001)])
    try trainer.train()

    // 4. After: the adapter (with the head) and label_map.json are in the output folder.
    let after = try Evaluator(head: .classifier(model), tokenizer: tokenizer, batchSize: 32).classification(eval).scores
    show("After training", after, labels)
    say("adapter: \(options.output.path) (adapter_config.json, adapter_model.safetensors, label_map.json)")
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
