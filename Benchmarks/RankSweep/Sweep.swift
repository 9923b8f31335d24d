import Foundation
import PEFTKit

/// One adapter configuration of the sweep: a `--method` of the registry at a rank on a target set.
struct SweepConfiguration {
    var method: String
    var rank: Int
    var targets: TargetModules
    var targetName: String
    var name: String { Self.displayNames[method, default: method] + " r=\(rank) \(targetName)" }

    static let displayNames = ["lora": "LoRA", "dora": "DoRA", "rslora": "rsLoRA", "loha": "LoHa", "lokr": "LoKr", "vera": "VeRA", "adalora": "AdaLoRA"]

    /// The adapter configuration: α = 2r and dropout 0.05 for the methods that read them.
    func adapter() throws -> any AdapterConfiguration {
        guard let variant = AdapterMethods.variant(named: method) else { throw SweepError("no method '\(method)' in the registry") }
        return try variant.make(AdapterOptionValues(targets: targets, given: ["rank": Double(rank), "alpha": Double(2 * rank), "dropout": 0.05]))
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
        var method: String, rank: Int, targets: String, trainable: Int, secondsPerStep: Double, tokensPerSecond: Double
        var peakResidentMegabytes: Double, curve: [[Double]], evalLoss: Double, exactMatch: Double
    }

    var saved: Saved {
        Saved(method: configuration.method, rank: configuration.rank, targets: configuration.targetName, trainable: trainableParameters,
              secondsPerStep: secondsPerStep, tokensPerSecond: tokensPerSecond, peakResidentMegabytes: peakResidentMegabytes,
              curve: evalLossCurve.map { [Double($0.step), $0.loss] }, evalLoss: evalLoss, exactMatch: exactMatch)
    }

    init(_ saved: Saved) {
        let targets: TargetModules = saved.targets == "all-linear" ? .allLinear : .names(saved.targets.split(separator: ",").map(String.init))
        self.init(configuration: SweepConfiguration(method: saved.method, rank: saved.rank, targets: targets, targetName: saved.targets),
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
    /// The other methods, each at r = 8 on q_proj,v_proj after the LoRA sweep.
    var methods = ["dora", "loha"]
    /// Only these configurations (by name), merged into the results already in the output folder.
    var only: [String]? = nil

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
        for method in methods { list.append(SweepConfiguration(method: method, rank: 8, targets: .names(["q_proj", "v_proj"]), targetName: "q_proj,v_proj")) }
        guard let only else { return list }
        return list.filter { only.contains($0.name) }
    }
}

struct SweepError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
