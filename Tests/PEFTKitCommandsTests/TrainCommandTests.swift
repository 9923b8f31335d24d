import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PEFTKitCommands
import Testing

private let fixtures = repositoryTests.appendingPathComponent("TrainingTests/Fixtures")
private let model = fixtures.appendingPathComponent("tiny-chat-llama").path
private let data = fixtures.appendingPathComponent("arithmetic.jsonl").path

@Suite("peftkit train and eval")
struct TrainCommandTests {
    func temporary() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("cli-train-\(UUID().uuidString)") }

    @Test("train writes a PEFT adapter, logs and a JSON summary; eval reads it back")
    func trainThenEvaluate() throws {
        let output = temporary()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = runTool(["train", "--model", model, "--train", data, "--eval-fraction", "0.25", "--output", output.path, "--max-steps", "6",
                              "--batch-size", "4", "--learning-rate", "1e-2", "--rank", "4", "--alpha", "8", "--logging-steps", "2",
                              "--save-every", "3", "--max-new-tokens", "3", "--quiet", "--profile", output.path + "-profile.md"])
        defer { try? FileManager.default.removeItem(atPath: output.path + "-profile.md") }
        #expect(result.status == 0, "\(result.error)")
        let summary = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        // --profile: steps 2–6 operation by operation, the products' FLOPs among them.
        let profile = try String(contentsOfFile: output.path + "-profile.md", encoding: .utf8)
        #expect(profile.contains("5 steps profiled") && profile.contains("| matmul |") && profile.contains("| *optimizer update* |")
                && profile.contains("| **step** |"), "\(profile)")
        // A profile path that cannot be written is refused before training.
        let noFolder = runTool(["train", "--model", model, "--train", data, "--output", output.path + "-other", "--max-steps", "1", "--quiet",
                                "--profile", "/nonexistent-folder/profile.md"])
        #expect(noFolder.status == 2 && noFolder.error.contains("--profile (its folder) /nonexistent-folder: no such folder"), "\(noFolder.error)")
        #expect(!FileManager.default.fileExists(atPath: output.path + "-other"))
        for (profilePath, message) in [("", "--profile is empty"), (".", "is a folder"), (data, "overlaps --train"),
                                       (output.path + "/summary.json", "is inside --output")] {
            let refused = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--overwrite", "--max-steps", "1", "--quiet",
                                   "--profile", profilePath])
            #expect(refused.status == 2 && refused.error.contains(message), "\(profilePath): \(refused.error)")
        }
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_model.safetensors").path))
        for key in ["train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "peak_rss_mb", "predicted_peak_rss_mb", "trainable_parameters", "eval_loss",
                    "step_runtime", "step_samples_per_second"] {
            #expect(summary?[key] != nil, "summary has \(key)")
        }
        // Step time excludes the evaluations and saving that the run's wall time holds.
        let stepRuntime = summary?["step_runtime"] as? Double ?? 0, runtime = summary?["train_runtime"] as? Double ?? 0
        #expect(stepRuntime > 0 && stepRuntime < runtime)
        #expect(summary?["trainable_parameters"] as? Int == 896, "LoRA r=4 on q_proj (32→32) and v_proj (32→16) of 2 layers")
        for file in ["adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "metrics.csv", "checkpoint-6/trainer_state.json"] {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), "\(file)")
        }
        let log = try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count >= 4 && log.contains("\"loss\"") && log.contains("\"eval_loss\""))
        let evaluation = runTool(["eval", "--model", model, "--adapter", output.path, "--data", data, "--json", "--max-tokens", "3"])
        #expect(evaluation.status == 0, "\(evaluation.error)")
        let metrics = try JSONSerialization.jsonObject(with: Data(evaluation.output.utf8)) as? [String: Any]
        #expect(metrics?["examples"] as? Int == 40 && metrics?["loss"] != nil && metrics?["perplexity"] != nil && metrics?["exact_match"] != nil)

        // The output is not overwritten without --overwrite; --resume continues from the checkpoint.
        let again = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--max-steps", "6", "--quiet"])
        #expect(again.status == 2 && again.error.contains("--overwrite"))
        let resumed = runTool(["train", "--model", model, "--train", data, "--eval-fraction", "0.25", "--output", output.path, "--max-steps", "8",
                               "--batch-size", "4", "--learning-rate", "1e-2", "--rank", "4", "--alpha", "8", "--resume", output.path, "--quiet",
                               "--max-new-tokens", "3"])
        #expect(resumed.status == 0, "\(resumed.error)")
        #expect(resumed.output.contains("\"global_step\": 8"))
        let wrong = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--max-steps", "8", "--rank", "2",
                             "--resume", output.path, "--quiet"])
        #expect(wrong.status == 1 && wrong.error.contains("cannot resume"))
        // Options that change the function or the optimisation are part of the checkpoint's fingerprint, named when they differ.
        for (options, named) in [(["--alpha", "16"], "adapter lora_alpha"), (["--method", "rslora"], "adapter use_rslora"),
                                 (["--dropout", "0.2"], "adapter lora_dropout"), (["--learning-rate", "5e-3"], "learning-rate schedule")] {
            var arguments = ["train", "--model", model, "--train", data, "--eval-fraction", "0.25", "--output", output.path, "--max-steps", "9",
                             "--batch-size", "4", "--rank", "4", "--resume", output.path, "--quiet", "--max-new-tokens", "3"] + options
            if !options.contains("--alpha") { arguments += ["--alpha", "8"] }
            if !options.contains("--learning-rate") { arguments += ["--learning-rate", "1e-2"] }
            let other = runTool(arguments)
            #expect(other.status == 1 && other.error.contains(named), "\(options): \(other.error)")
        }
    }

    @Test("--quantization q8_0 trains LoRA on a packed base; eval and generate use the adapter beside it; --answers writes every answer")
    func quantizedBase() throws {
        let output = temporary()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--max-steps", "4", "--batch-size", "4",
                              "--learning-rate", "1e-2", "--rank", "4", "--alpha", "8", "--quantization", "q8_0", "--quiet"])
        #expect(result.status == 0, "\(result.error)")
        let answers = output.appendingPathComponent("answers.jsonl")
        let evaluation = runTool(["eval", "--model", model, "--adapter", output.path, "--data", data, "--json", "--max-tokens", "3",
                                  "--quantization", "q8_0", "--answers", answers.path])
        #expect(evaluation.status == 0, "\(evaluation.error)")
        let lines = try String(contentsOf: answers, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 40 && lines[0].contains("\"prompt_ids\"") && lines[0].contains("\"reference\""))
        let generated = runTool(["generate", "--model", model, "--adapter", output.path, "--prompt", "What is 3 plus 4?", "--max-tokens", "4",
                                 "--quantization", "q8_0"])
        #expect(generated.status == 0, "\(generated.error)")
        // --requantize merges into the packed base and says what that cost, measured.
        let requantized = runTool(["generate", "--model", model, "--adapter", output.path, "--prompt", "What is 3 plus 4?", "--max-tokens", "4",
                                   "--quantization", "q8_0", "--requantize"])
        #expect(requantized.status == 0 && requantized.error.contains("re-quantized") && requantized.error.contains("RMS error"), "\(requantized.error)")
        let unwritable = runTool(["eval", "--model", model, "--data", data, "--max-tokens", "2", "--answers", "/nonexistent/folder/answers.jsonl"])
        #expect(unwritable.status == 1 && unwritable.error.contains("/nonexistent/folder/answers.jsonl"))
        let noAnswers = runTool(["eval", "--model", model, "--data", data, "--max-tokens", "0", "--answers", answers.path])
        #expect(noAnswers.status == 2 && noAnswers.error.contains("--answers"))
        let bad = runTool(["train", "--model", model, "--train", data, "--output", temporary().path, "--quantization", "int3", "--quiet"])
        #expect(bad.status == 2 && bad.error.contains("--quantization"))
    }

    @Test("--matmul-precision float16 trains (float32 where the CPU lacks half arithmetic); other values, by flag or config file, are exit 2 naming the choices")
    func matmulPrecision() throws {
        let output = temporary()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--max-steps", "2", "--batch-size", "4",
                              "--rank", "4", "--alpha", "8", "--matmul-precision", "float16", "--quiet"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("\"global_step\": 2"))
        for value in ["float8", "FLOAT16", ""] {
            let bad = runTool(["train", "--model", model, "--train", data, "--output", temporary().path, "--matmul-precision", value, "--quiet"])
            #expect(bad.status == 2 && bad.error.contains("--matmul-precision") && bad.error.contains("float32, float16, bfloat16"), "'\(value)': \(bad.error)")
        }
        let config = output.deletingLastPathComponent().appendingPathComponent("precision-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: config) }
        try Data(#"{"matmul-precision": "bf16"}"#.utf8).write(to: config)
        let fromConfig = runTool(["train", "--model", model, "--train", data, "--output", temporary().path, "--config", config.path, "--quiet"])
        #expect(fromConfig.status == 2 && fromConfig.error.contains("--matmul-precision"), "\(fromConfig.error)")
    }

    @Test("--init-adapter starts from an existing adapter's configuration and weights; flags that disagree with it are exit 2")
    func initialAdapter() throws {
        let first = temporary(), second = temporary(), third = temporary()
        defer { for url in [first, second, third] { try? FileManager.default.removeItem(at: url) } }
        let trained = runTool(["train", "--model", model, "--train", data, "--output", first.path, "--max-steps", "4", "--batch-size", "4",
                               "--learning-rate", "1e-2", "--rank", "4", "--alpha", "8", "--dropout", "0", "--quiet"])
        #expect(trained.status == 0, "\(trained.error)")
        // Zero steps of learning rate 0: the adapter written is the one it started from.
        let unchanged = runTool(["train", "--model", model, "--train", data, "--output", second.path, "--max-steps", "1", "--batch-size", "4",
                                 "--learning-rate", "0", "--init-adapter", first.path, "--rank", "4", "--quiet"])
        #expect(unchanged.status == 0, "\(unchanged.error)")
        let before = try Data(contentsOf: first.appendingPathComponent("adapter_model.safetensors"))
        let after = try Data(contentsOf: second.appendingPathComponent("adapter_model.safetensors"))
        #expect(before == after, "the adapter continues from the given weights")
        let conflicting = runTool(["train", "--model", model, "--train", data, "--output", third.path, "--max-steps", "1",
                                   "--init-adapter", first.path, "--rank", "8", "--quiet"])
        #expect(conflicting.status == 2 && conflicting.error.contains("--rank 8") && conflicting.error.contains("r=4"), "\(conflicting.error)")
        // A variant of the adapter's method it is not, and another method altogether.
        let dora = runTool(["train", "--model", model, "--train", data, "--output", third.path, "--max-steps", "1",
                            "--init-adapter", first.path, "--method", "dora", "--quiet"])
        #expect(dora.status == 2 && dora.error.contains("--method dora (the adapter has use_dora=false)"), "\(dora.error)")
        let loha = runTool(["train", "--model", model, "--train", data, "--output", third.path, "--max-steps", "1",
                            "--init-adapter", first.path, "--method", "loha", "--quiet"])
        #expect(loha.status == 2 && loha.error.contains("is LORA, not what --method loha makes (LOHA)"), "\(loha.error)")
        let missing = runTool(["train", "--model", model, "--train", data, "--output", third.path, "--max-steps", "1",
                               "--init-adapter", "/nonexistent/adapter", "--quiet"])
        #expect(missing.status == 2 && missing.error.contains("--init-adapter /nonexistent/adapter: no such folder"), "\(missing.error)")
    }

    @Test("--retain logs retain_NAME_loss and retain_NAME_kl at every evaluation; --max-retain-kl stops and keeps the weights within it")
    func retainSets() throws {
        let output = temporary()
        defer { try? FileManager.default.removeItem(at: output) }
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let general = output.appendingPathComponent("general knowledge.jsonl")
        try Data("{\"prompt\": \"Name a colour of the sky.\", \"response\": \"Blue.\"}\n{\"prompt\": \"How many legs has a cat?\", \"response\": \"Four.\"}\n".utf8).write(to: general)
        let run = output.appendingPathComponent("run")
        let result = runTool(["train", "--model", model, "--train", data, "--output", run.path, "--max-steps", "4", "--batch-size", "4",
                              "--learning-rate", "1e-2", "--eval-every", "2", "--retain", general.path, "--retain", "facts=\(general.path)",
                              "--report-to", "tensorboard", "--quiet"])
        #expect(result.status == 0, "\(result.error)")
        #expect(!result.error.contains("--eval-every does nothing"), "retain sets are evaluated")
        let summary = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        #expect((summary?["retain_general_knowledge_kl"] as? Double ?? 0) > 0 && summary?["retain_facts_loss"] != nil, "\(result.output)")
        let log = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").filter { $0.contains("\"retain_facts_kl\"") }.count == 2)
        let events = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("tensorboard").path)
        #expect(events.count == 1 && events[0].hasPrefix("events.out.tfevents."))
        // The report and the summary beside the adapter; `peftkit report` rebuilds and overlays.
        let page = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(page.contains("KL from the base model") && page.contains("retain_facts_kl") && !page.contains("<script"))
        #expect(try String(contentsOf: run.appendingPathComponent("summary.json"), encoding: .utf8).contains("\"retain_facts_kl\""))
        let rebuilt = runTool(["report", run.path])
        #expect(rebuilt.status == 0 && rebuilt.output == run.appendingPathComponent("report.html").path + "\n", "\(rebuilt.error)")
        let both = output.appendingPathComponent("both.html")
        #expect(runTool(["report", run.path, run.path, "--output", both.path]).status == 0)
        let overlay = try String(contentsOf: both, encoding: .utf8)
        #expect(overlay.contains("\(run.path): retain_facts_kl") && overlay.contains("\(run.path) (2): retain_facts_kl"), "runs told apart")
        #expect(runTool(["report", run.path, run.path]).status == 2, "several runs need --output")
        #expect(runTool(["report", output.appendingPathComponent("nothing").path]).status == 2)
        let metrics = try Data(contentsOf: run.appendingPathComponent("metrics.jsonl"))
        let overMetrics = runTool(["report", run.path, "--output", run.appendingPathComponent("metrics.jsonl").path])
        #expect(overMetrics.status == 2 && overMetrics.error.contains("overlaps"), "\(overMetrics.error)")
        #expect(try Data(contentsOf: run.appendingPathComponent("metrics.jsonl")) == metrics, "the metrics it reads are untouched")
        #expect(runTool(["report", run.path, "--output", ""]).status == 2 && runTool(["report", run.path, "--output", run.path]).status == 2)

        let guarded = output.appendingPathComponent("guarded")
        let stopped = runTool(["train", "--model", model, "--train", data, "--output", guarded.path, "--max-steps", "6", "--batch-size", "4",
                               "--learning-rate", "1e-2", "--eval-every", "2", "--retain", general.path, "--max-retain-kl", "0", "--quiet"])
        #expect(stopped.status == 0, "\(stopped.error)")
        let stoppedSummary = try JSONSerialization.jsonObject(with: Data(stopped.output.utf8)) as? [String: Any]
        #expect(stoppedSummary?["global_step"] as? Int == 2 && stoppedSummary?["retain_general_knowledge_kl"] as? Double == 0,
                "stopped at the first evaluation; the adapter written is the starting one: \(stopped.output)")
        // Replay and the KL anchor: 40 examples with 20 % replay make 50; the anchor is part of the checkpoint's fingerprint.
        let mixed = output.appendingPathComponent("mixed")
        let mixing = runTool(["train", "--model", model, "--train", data, "--output", mixed.path, "--max-steps", "2", "--batch-size", "4",
                              "--retain-mix", "\(general.path):0.2", "--kl-anchor", "0.5", "--save-every", "1"])
        #expect(mixing.status == 0 && mixing.error.contains("train: 50 records, 50 examples"), "\(mixing.error)")
        let otherAnchor = runTool(["train", "--model", model, "--train", data, "--output", mixed.path, "--max-steps", "3", "--batch-size", "4",
                                   "--retain-mix", "\(general.path):0.2", "--kl-anchor", "2", "--resume", mixed.path, "--quiet"])
        #expect(otherAnchor.status == 1 && otherAnchor.error.contains("objective"), "\(otherAnchor.error)")
        for (extra, message) in [(["--retain", general.path, "--max-retain-kl", "-1"], "--max-retain-kl expects a number"),
                                 (["--retain-mix", "\(general.path):0.95"], "--retain-mix expects FILE:FRACTION"),
                                 (["--kl-anchor", "nan"], "--kl-anchor expects a number"),
                                 (["--max-retain-kl", "0.5"], "--max-retain-kl needs --retain"),
                                 (["--report-to", "tensorboard,wandb"], "--report-to 'wandb' is not known"),
                                 (["--retain", "gone=/nonexistent/retain.jsonl"], "--retain /nonexistent/retain.jsonl: no such file")] {
            let bad = runTool(["train", "--model", model, "--train", data, "--output", output.appendingPathComponent("bad").path, "--max-steps", "1", "--quiet"] + extra)
            #expect(bad.status == 2 && bad.error.contains(message), "\(extra): \(bad.error)")
        }
    }

    @Test("bad flags and values are exit 2 with a message; every command has --help")
    func usageErrors() {
        #expect(runTool(["train", "--help"]).output.contains("--gradient-accumulation"))
        #expect(runTool(["eval", "--help"]).output.contains("--max-tokens"))
        // An output folder that never exists, so no leftover on the machine changes the message.
        let unused = FileManager.default.temporaryDirectory.appendingPathComponent("peftkit-unused-\(UUID().uuidString)").path
        let cases: [([String], String)] = [
            (["train", "--train", data, "--output", unused], "--model is required"),
            (["train", "--model", model, "--output", unused], "--train is required"),
            (["train", "--model", model, "--train", data], "--output is required"),
            (["train", "--model", model, "--train", data, "--output", unused, "--rank", "0"], "--rank"),
            (["train", "--model", model, "--train", data, "--output", unused, "--learning-rate", "fast"], "--learning-rate"),
            (["train", "--model", model, "--train", data, "--output", unused, "--method", "magic"], "--method"),
            (["train", "--model", model, "--train", data, "--output", unused, "--schedule", "wavy"], "--schedule"),
            (["train", "--model", model, "--train", data, "--output", unused, "--epochs", "2", "--max-steps", "3"], "not both"),
            (["train", "--model", model, "--train", data, "--output", unused, "--bogus"], "unknown option"),
            (["train", "--model", model, "--train", data, "--output", unused, "--early-stopping-patience", "2"], "needs --eval"),
            (["eval", "--model", model], "--data is required"),
            (["eval", "--model", model, "--data", data, "--max-tokens", "-1"], "--max-tokens"),
        ]
        for (arguments, message) in cases {
            let result = runTool(arguments)
            #expect(result.status == 2 && result.error.contains(message), "\(arguments): \(result.status) \(result.error)")
        }
    }

    @Test("bad data is exit 1 naming the line; --config supplies options that flags override")
    func dataErrorsAndConfig() throws {
        let folder = temporary()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.jsonl")
        try Data("{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\", \"response\"\n".utf8).write(to: bad)
        let result = runTool(["train", "--model", model, "--train", bad.path, "--output", folder.appendingPathComponent("out").path, "--quiet"])
        #expect(result.status == 1 && result.error.contains("bad.jsonl:2"))
        let config = folder.appendingPathComponent("config.json")
        try Data(#"{"rank": 2, "alpha": 4, "max_steps": 2, "batch-size": 4, "quiet": true, "learning-rate": 0.5}"#.utf8).write(to: config)
        let output = folder.appendingPathComponent("configured")
        let configured = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--config", config.path, "--rank", "4"])
        #expect(configured.status == 0, "\(configured.error)")
        #expect(configured.output.contains("\"trainable_parameters\": 896"), "--rank 4 wins over the file's 2")
        #expect(configured.output.contains("\"global_step\": 2"))
        try Data(#"{"rank": 2,"#.utf8).write(to: config)
        let broken = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--config", config.path])
        #expect(broken.status == 2 && broken.error.contains("not valid JSON"))
        // A label map that is not id2label → name.
        let adapterFolder = folder.appendingPathComponent("adapter")
        try FileManager.default.createDirectory(at: adapterFolder, withIntermediateDirectories: true)
        try Data(#"{"id2label": {"7": 3}}"#.utf8).write(to: adapterFolder.appendingPathComponent("label_map.json"))
        let labels = runTool(["eval", "--model", model, "--adapter", adapterFolder.path, "--data", data])
        #expect(labels.status == 2 && labels.error.contains("id2label"))
        try Data(#"{"ranks": 2}"#.utf8).write(to: config)
        let unknown = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--config", config.path])
        #expect(unknown.status == 2 && unknown.error.contains("'ranks'"))
    }
}

@Suite("peftkit merge")
struct MergeCommandTests {
    @Test("merges a Python-peft adapter into a folder that loads as a plain model; refuses to overwrite")
    func merge() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("cli-merge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let adapter = fixtures.appendingPathComponent("parity/final").path
        let result = runTool(["merge", "--model", model, "--adapter", adapter, "--output", output.path])
        #expect(result.status == 0, "\(result.error)")
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(file).path), "\(file)")
        }
        // The merged folder is a plain model whose answers are the adapted model's.
        let viaAdapter = runTool(["generate", "--model", model, "--adapter", adapter, "--prompt", "What is 3 plus 4?", "--max-tokens", "6"])
        let viaMerged = runTool(["generate", "--model", output.path, "--prompt", "What is 3 plus 4?", "--max-tokens", "6"])
        #expect(viaAdapter.status == 0 && viaAdapter.output == viaMerged.output)
        let again = runTool(["merge", "--model", model, "--adapter", adapter, "--output", output.path])
        #expect(again.status == 2 && again.error.contains("--overwrite"))
        #expect(runTool(["merge", "--model", model, "--adapter", adapter, "--output", output.path, "--overwrite"]).status == 0)
        let missing = runTool(["merge", "--model", model, "--adapter", "/nonexistent", "--output", output.path, "--overwrite"])
        #expect(missing.status == 1 && FileManager.default.fileExists(atPath: output.appendingPathComponent("model.safetensors").path),
                "a failed merge leaves the previous output alone")
    }

    @Test("--output that is empty, the current directory, an input, a file or a folder PEFTKit did not write is refused, and left alone")
    func dangerousOutputs() throws {
        let adapter = fixtures.appendingPathComponent("parity/final").path
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cli-merge-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let file = work.appendingPathComponent("notes.txt")
        try Data("keep me".utf8).write(to: file)
        let stranger = work.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: stranger, withIntermediateDirectories: true)
        try Data("a".utf8).write(to: stranger.appendingPathComponent("a.jpg"))
        let fifo = work.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        let current = FileManager.default.currentDirectoryPath
        let before = try FileManager.default.contentsOfDirectory(atPath: current).sorted()
        for (output, expected) in [("", "empty"), (".", "current directory"), (current, "current directory"), (model, "overlaps --model"),
                                   (adapter, "overlaps --adapter"), (file.path, "is a file"), (fifo.path, "is a file"), ("/dev/null", "is a file"),
                                   (stranger.path, "does not hold a model folder")] {
            let result = runTool(["merge", "--model", model, "--adapter", adapter, "--output", output, "--overwrite"])
            #expect(result.status == 2 && result.error.contains(expected), "--output '\(output)': \(result.error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: current).sorted() == before)
        #expect(try String(contentsOf: file, encoding: .utf8) == "keep me")
        #expect(FileManager.default.fileExists(atPath: stranger.appendingPathComponent("a.jpg").path))

        var isFIFO = stat()
        #expect(stat(fifo.path, &isFIFO) == 0 && (isFIFO.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still a FIFO")
        #expect(FileManager.default.fileExists(atPath: "/dev/null"))

        // A symbolic link to a merged folder is written through: the folder is replaced, the link stays a link.
        let merged = work.appendingPathComponent("merged"), link = work.appendingPathComponent("link")
        #expect(runTool(["merge", "--model", model, "--adapter", adapter, "--output", merged.path]).status == 0)
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: merged)
        let throughLink = runTool(["merge", "--model", model, "--adapter", adapter, "--output", link.path, "--overwrite"])
        #expect(throughLink.status == 0, "\(throughLink.error)")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)) == merged.path)
        #expect(FileManager.default.fileExists(atPath: merged.appendingPathComponent("model.safetensors").path))

        for output in [file.path, fifo.path, "/dev/null"] {
            let result = runTool(["train", "--model", model, "--train", data, "--output", output, "--max-steps", "1", "--quiet"])
            #expect(result.status == 2 && result.error.contains("is not a folder"), "train --output \(output): \(result.error)")
        }
        #expect(try String(contentsOf: file, encoding: .utf8) == "keep me")
        let empty = runTool(["train", "--model", model, "--train", data, "--output", "", "--max-steps", "1", "--quiet"])
        #expect(empty.status == 2 && empty.error.contains("--output is empty"), "\(empty.error)")
        let onData = runTool(["train", "--model", model, "--train", data, "--output", URL(fileURLWithPath: data).deletingLastPathComponent().path,
                              "--max-steps", "1", "--quiet"])
        #expect(onData.status == 2 && onData.error.contains("overlaps --"), "\(onData.error)")
    }
}
