import Foundation
import PEFTKit

/// One adapter configuration of the sweep: a `--method` of the registry at a rank on a target set.
struct SweepConfiguration {
    var method: String
    var rank: Int
    var targets: TargetModules
    var targetName: String
    /// A learning rate of its own (nil: the sweep's).
    var learningRate: Float? = nil
    var name: String { Self.displayNames[method, default: method] + " r=\(rank) \(targetName)" + (learningRate.map { " lr=\($0)" } ?? "") }

    static let displayNames = ["lora": "LoRA", "dora": "DoRA", "rslora": "rsLoRA", "loha": "LoHa", "lokr": "LoKr", "vera": "VeRA", "adalora": "AdaLoRA"]

    /// The adapter configuration: α = 2r and dropout 0.05 for the methods that read them; AdaLoRA
    /// starts at 1.5 r and prunes to r over the middle of the run (its budget spans `steps`).
    func adapter(steps: Int) throws -> any AdapterConfiguration {
        guard let variant = AdapterMethods.variant(named: method) else { throw SweepError("no method '\(method)' in the registry") }
        var given = ["rank": Double(rank), "alpha": Double(2 * rank), "dropout": 0.05]
        if method == "vera" { given["alpha"] = nil }
        if method == "adalora" {
            given["rank"] = Double(rank * 3 / 2)
            given["target-rank"] = Double(rank)
            given["budget-warmup"] = Double(steps / 10)
            given["budget-final"] = Double(steps / 4)
        }
        return try variant.make(AdapterOptionValues(targets: targets, totalSteps: steps, given: given))
    }
}

/// What one configuration measured.
struct SweepResult {
    var configuration: SweepConfiguration
    var trainableParameters: Int
    var secondsPerStep: Double
    var tokensPerSecond: Double
    var peakResidentMegabytes: Double
    var evalLossCurve: [(step: Int, loss: Double)]
    var evalLoss: Double
    var exactMatch: Double
}

extension SweepResult {
    /// The saved form of a result (`rank_sweep.json`), so a later run can add rows (`--only`).
    struct Saved: Codable {
        var method: String, rank: Int, targets: String, learningRate: Float?, trainable: Int, secondsPerStep: Double, tokensPerSecond: Double
        var peakResidentMegabytes: Double, curve: [[Double]], evalLoss: Double, exactMatch: Double
    }

    var saved: Saved {
        Saved(method: configuration.method, rank: configuration.rank, targets: configuration.targetName, learningRate: configuration.learningRate,
              trainable: trainableParameters,
              secondsPerStep: secondsPerStep, tokensPerSecond: tokensPerSecond, peakResidentMegabytes: peakResidentMegabytes,
              curve: evalLossCurve.map { [Double($0.step), $0.loss] }, evalLoss: evalLoss, exactMatch: exactMatch)
    }

    init(_ saved: Saved) {
        let targets: TargetModules = saved.targets == "all-linear" ? .allLinear : .names(saved.targets.split(separator: ",").map(String.init))
        self.init(configuration: SweepConfiguration(method: saved.method, rank: saved.rank, targets: targets, targetName: saved.targets,
                                                    learningRate: saved.learningRate),
                  trainableParameters: saved.trainable, secondsPerStep: saved.secondsPerStep, tokensPerSecond: saved.tokensPerSecond,
                  peakResidentMegabytes: saved.peakResidentMegabytes, evalLossCurve: saved.curve.map { (Int($0[0]), $0[1]) },
                  evalLoss: saved.evalLoss, exactMatch: saved.exactMatch)
    }

    /// The results saved in `folder` (none when there is no `rank_sweep.json`).
    static func load(from folder: URL) -> [SweepResult] {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("rank_sweep.json")),
              let saved = try? JSONDecoder().decode([Saved].self, from: data) else { return [] }
        return saved.map(SweepResult.init)
    }
}

/// The sweep's settings.
struct SweepOptions {
    var model: URL
    var data: URL
    var output: URL
    var steps = 30
    var evalEvery = 10
    var evalExamples = 40
    var learningRate: Float = 1e-3
    var ranks = [1, 2, 4, 8, 16, 32, 64]
    var targetSets = ["q_proj,v_proj", "all-linear"]
    /// The other methods, each at r = 8 on q_proj,v_proj after the LoRA sweep (VeRA at its default
    /// r = 256: its rank costs no trainable values).
    var methods = ["dora", "loha", "lokr", "vera", "adalora"]
    /// Only these configurations (by name), merged into the results already in the output folder.
    var only: [String]? = nil
    /// The methods that usually train at a higher rate than LoRA also run at this one.
    var methodLearningRate: Float? = 1e-2

    init(_ arguments: ArraySlice<String>) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        model = ModelCache.smolLM2
        data = root.appendingPathComponent("Examples/InstructionTuning/data")
        output = root.appendingPathComponent("Benchmarks/results")
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw SweepError("\(flag) needs a value") }
            switch flag {
            case "--model": model = URL(fileURLWithPath: value)
            case "--output": output = URL(fileURLWithPath: value)
            case "--steps": steps = try Self.positive(flag, value)
            case "--eval-every": evalEvery = try Self.positive(flag, value)
            case "--eval-examples": evalExamples = try Self.positive(flag, value)
            case "--learning-rate":
                guard let rate = Float(value), rate > 0 else { throw SweepError("--learning-rate expects a positive number") }
                learningRate = rate
            case "--ranks": ranks = try value.split(separator: ",").map { try Self.positive(flag, String($0)) }
            case "--targets": targetSets = value == "both" ? ["q_proj,v_proj", "all-linear"] : [value]
            case "--methods": methods = value == "none" ? [] : value.split(separator: ",").map(String.init)
            case "--only": only = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            case "--method-learning-rate":
                guard let rate = Float(value), rate >= 0 else { throw SweepError("--method-learning-rate expects a number (0: none)") }
                methodLearningRate = rate > 0 ? rate : nil
            default: throw SweepError("unknown option \(flag)")
            }
        }
        guard FileManager.default.fileExists(atPath: model.path) else { throw SweepError("no model at \(model.path); run Scripts/fetch-models.sh smollm2") }
    }

    static func positive(_ flag: String, _ value: String) throws -> Int {
        guard let number = Int(value), number > 0 else { throw SweepError("\(flag) expects positive integers, got '\(value)'") }
        return number
    }

    /// LoRA at every rank on every target set, then each other method at r = 8 on q_proj,v_proj
    /// (with `--only`, just the configurations named).
    var configurations: [SweepConfiguration] {
        var list: [SweepConfiguration] = []
        for name in targetSets {
            let targets: TargetModules = name == "all-linear" ? .allLinear : .names(name.split(separator: ",").map(String.init))
            for rank in ranks { list.append(SweepConfiguration(method: "lora", rank: rank, targets: targets, targetName: name)) }
        }
        if let methodLearningRate, targetSets.contains("q_proj,v_proj") {
            // LoRA at the other methods' rate, for a fair comparison with them.
            list.append(SweepConfiguration(method: "lora", rank: 8, targets: .names(["q_proj", "v_proj"]), targetName: "q_proj,v_proj",
                                           learningRate: methodLearningRate))
        }
        for method in methods {
            let configuration = SweepConfiguration(method: method, rank: method == "vera" ? 256 : 8, targets: .names(["q_proj", "v_proj"]),
                                                   targetName: "q_proj,v_proj")
            list.append(configuration)
            if let methodLearningRate, ["loha", "lokr", "vera", "adalora"].contains(method) {
                var faster = configuration
                faster.learningRate = methodLearningRate
                list.append(faster)
            }
        }
        guard let only else { return list }
        return list.filter { only.contains($0.name) }
    }

    /// Every configuration's name in sweep order (the table's row order, whatever `--only` runs).
    var rowOrder: [String] {
        var all = self
        all.only = nil
        return all.configurations.map(\.name)
    }
}

struct SweepError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
