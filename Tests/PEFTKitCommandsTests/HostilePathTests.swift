import Foundation
#if canImport(Glibc)
import Glibc
#endif
@_spi(Testing) import ModelIO
import PEFTKitCommands
import Testing

private let fixtures = repositoryTests.appendingPathComponent("TrainingTests/Fixtures")
private let model = fixtures.appendingPathComponent("tiny-chat-llama").path
private let data = fixtures.appendingPathComponent("arithmetic.jsonl").path

/// Hostile paths and flags met by `eval --answers`, `train` and `merge` (issue 24, items 7 and 13 and
/// the misleading messages): each ends with a message naming the flag or file, and nothing the run
/// reads or wrote earlier is replaced.
@Suite("peftkit on hostile paths and flags")
struct HostilePathTests {
    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func eval(_ extra: [String]) -> (status: Int32, output: String, error: String) {
        runTool(["eval", "--model", model, "--data", data, "--json", "--max-tokens", "2"] + extra)
    }

    @Test("eval --answers refuses the data file and folders; writes through links and FIFOs; a full disk leaves the old answers")
    func answersPaths() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let copy = root.appendingPathComponent("data.jsonl")
        try FileManager.default.copyItem(atPath: data, toPath: copy.path)
        let before = try Data(contentsOf: copy)
        let same = runTool(["eval", "--model", model, "--data", copy.path, "--max-tokens", "2", "--answers", copy.path])
        #expect(same.status == 2 && same.error.contains("--answers") && same.error.contains("--data"), "\(same.error)")
        let link = root.appendingPathComponent("link.jsonl")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: copy.path)
        let viaLink = runTool(["eval", "--model", model, "--data", copy.path, "--max-tokens", "2", "--answers", link.path])
        #expect(viaLink.status == 2, "a link to the data is the data")
        #expect(try Data(contentsOf: copy) == before, "the data is untouched")
        let asFolder = eval(["--answers", root.path])
        #expect(asFolder.status == 2 && asFolder.error.contains("is a folder"), "\(asFolder.error)")

        let answers = root.appendingPathComponent("answers.jsonl")
        let target = root.appendingPathComponent("target.jsonl")
        try Data().write(to: target)
        try FileManager.default.createSymbolicLink(atPath: answers.path, withDestinationPath: "target.jsonl")
        #expect(eval(["--answers", answers.path]).status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: answers.path) == "target.jsonl", "the link stays a link")
        let written = try String(contentsOf: target, encoding: .utf8)
        #expect(written.split(separator: "\n").count == 40)

        let fifo = root.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let reader = open(fifo.path, O_RDONLY | O_NONBLOCK)
        defer { close(reader) }
        // A pipe holds 64 KiB; 40 short answers fit.
        #expect(eval(["--answers", fifo.path]).status == 0)
        var info = stat()
        #expect(lstat(fifo.path, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO, "still a FIFO")
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        #expect(read(reader, &buffer, buffer.count) == written.utf8.count)

        let full = WriteFaults.injecting(ENOSPC, under: root, named: "target.jsonl", afterBytes: 10) { eval(["--answers", answers.path]) }
        #expect(full.status == 1 && full.error.contains("target.jsonl") && full.error.contains(String(cString: strerror(ENOSPC))), "\(full.error)")
        #expect(try String(contentsOf: target, encoding: .utf8) == written, "the previous answers are whole")
    }

    @Test("merge on a full disk names the file and keeps the earlier merged folder")
    func mergeFault() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let adapter = root.appendingPathComponent("adapter"), merged = root.appendingPathComponent("merged")
        let trained = runTool(["train", "--model", model, "--train", data, "--output", adapter.path, "--max-steps", "1", "--quiet"])
        #expect(trained.status == 0, "\(trained.error)")
        #expect(runTool(["merge", "--model", model, "--adapter", adapter.path, "--output", merged.path]).status == 0)
        let weights = try Data(contentsOf: merged.appendingPathComponent("model.safetensors"))
        let failed = WriteFaults.injecting(EIO, under: root, named: "tokenizer.json") {
            runTool(["merge", "--model", model, "--adapter", adapter.path, "--output", merged.path, "--overwrite"])
        }
        #expect(failed.status == 1 && failed.error.contains("tokenizer.json") && failed.error.contains("nothing was replaced"), "\(failed.error)")
        #expect(try Data(contentsOf: merged.appendingPathComponent("model.safetensors")) == weights)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() == ["adapter", "merged"], "no partial folder left")
    }

    @Test("inputs of the wrong kind and out-of-range flags are named by flag before anything loads")
    func inputsAndFlags() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let output = root.appendingPathComponent("out").path
        let cases: [([String], String)] = [
            (["--model", data, "--train", data], "--model \(data) is not a model"),
            (["--model", model, "--train", root.path], "--train \(root.path) is a folder"),
            (["--model", model, "--train", data, "--resume", root.appendingPathComponent("missing").path], "--resume \(root.path)/missing: no such folder"),
            (["--model", model, "--train", data, "--resume", data], "--resume \(data) is a file"),
            (["--model", model, "--train", data, "--batch-size", "1000000000"], "--batch-size expects an integer in 1…65536"),
            (["--model", model, "--train", data, "--gradient-accumulation", "1000000000"], "--gradient-accumulation expects an integer in 1…65536"),
            (["--model", model, "--train", data, "--rank", "1000000000"], "--rank expects an integer in 1…65536"),
        ]
        for (arguments, message) in cases {
            let result = runTool(["train", "--output", output, "--max-steps", "1", "--quiet"] + arguments)
            #expect(result.status == 2 && result.error.contains(message), "\(arguments): \(result.error)")
        }
        // --config values are flags too.
        let config = root.appendingPathComponent("config.json")
        try Data(#"{"batch-size": 1e9}"#.utf8).write(to: config)
        let configured = runTool(["train", "--model", model, "--train", data, "--output", output, "--config", config.path, "--quiet"])
        #expect(configured.status == 2 && configured.error.contains("--batch-size"), "\(configured.error)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test("--config reads a Hugging Face training_args.json: its names map to options, max_steps overrides epochs, the rest is named as ignored")
    func huggingFaceConfig() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let config = root.appendingPathComponent("training_args.json")
        try Data(#"""
        {"output_dir": "elsewhere", "per_device_train_batch_size": 4, "num_train_epochs": 3.0, "max_steps": 2, "learning_rate": 0.01,
         "logging_steps": 1, "lr_scheduler_type": "cosine", "save_total_limit": null, "eval_steps": null, "fp16": false, "do_train": true,
         "report_to": []}
        """#.utf8).write(to: config)
        let output = root.appendingPathComponent("run")
        let result = runTool(["train", "--model", model, "--train", data, "--output", output.path, "--config", config.path, "--quiet"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("\"global_step\": 2"), "max_steps won over num_train_epochs")
        #expect(result.error.contains("2 Hugging Face settings peftkit has no option for, ignored: fp16, do_train"), "\(result.error)")
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("adapter_config.json").path), "--output wins over output_dir")
        let log = try String(contentsOf: output.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(log.split(separator: "\n").count == 2, "logging_steps 1")
    }

    @Test("a run that cannot fit in memory is refused before the adapter is allocated; options that do nothing are warned about")
    func memoryAndUnusedOptions() throws {
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let huge = runTool(["train", "--model", model, "--train", data, "--output", root.appendingPathComponent("a").path, "--max-steps", "1",
                            "--packing", "--max-length", "65536", "--batch-size", "4096", "--quiet"])
        #expect(huge.status == 1 && huge.error.contains("at its peak") && huge.error.contains("this machine allows"), "\(huge.error)")
        let unused = runTool(["train", "--model", model, "--train", data, "--output", root.appendingPathComponent("b").path, "--max-steps", "1",
                              "--method", "ia3", "--rank", "4", "--virtual-tokens", "3", "--eval-every", "2", "--quiet"])
        #expect(unused.status == 0, "\(unused.error)")
        for warning in ["--rank does nothing with --method ia3", "--virtual-tokens does nothing with --method ia3",
                        "--eval-every does nothing without --eval or --eval-fraction"] {
            #expect(unused.error.contains("train: warning: \(warning)"), "\(unused.error)")
        }
        let wide = runTool(["train", "--model", model, "--train", data, "--output", root.appendingPathComponent("c").path, "--max-steps", "1",
                            "--rank", "64", "--quiet"])
        #expect(wide.status == 0 && wide.error.contains("train: warning: r=64 exceeds min(in, out)"), "\(wide.error)")
    }

    @Test("classification on all-MiniLM-L6-v2: eval without an adapter warns of the random head; one class is refused",
          .enabled(if: ProcessInfo.processInfo.environment["PEFTKIT_MINILM_DIR"] != nil))
    func classificationWarnings() throws {
        let minilm = ProcessInfo.processInfo.environment["PEFTKIT_MINILM_DIR"]!
        let root = try folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let two = root.appendingPathComponent("two.jsonl"), one = root.appendingPathComponent("one.jsonl")
        try Data((0..<8).map { #"{"text": "sample \#($0)", "label": "\#($0 % 2 == 0 ? "even" : "odd")"}"# + "\n" }.joined().utf8).write(to: two)
        try Data((0..<8).map { #"{"text": "sample \#($0)", "label": "same"}"# + "\n" }.joined().utf8).write(to: one)
        let evaluated = runTool(["eval", "--model", minilm, "--data", two.path, "--json"])
        #expect(evaluated.status == 0 && evaluated.error.contains("initialised at random"), "\(evaluated.error)")
        let trained = runTool(["train", "--model", minilm, "--train", one.path, "--output", root.appendingPathComponent("out").path, "--max-steps", "1", "--quiet"])
        #expect(trained.status == 1 && trained.error.contains("at least two classes"), "\(trained.error)")
    }
}
