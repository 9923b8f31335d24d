import Foundation
import PEFTKit

/// One adapter configuration of the sweep.
struct SweepConfiguration {
    var rank: Int
    var targets: TargetModules
    var targetName: String
    var dora: Bool
    var name: String { (dora ? "DoRA" : "LoRA") + " r=\(rank) \(targetName)" }
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
            default: throw SweepError("unknown option \(flag)")
            }
        }
        guard FileManager.default.fileExists(atPath: model.path) else { throw SweepError("no model at \(model.path); run Scripts/fetch-models.sh smollm2") }
    }

    static func positive(_ flag: String, _ value: String) throws -> Int {
        guard let number = Int(value), number > 0 else { throw SweepError("\(flag) expects positive integers, got '\(value)'") }
        return number
    }

    /// LoRA at every rank on every target set, then DoRA at r = 8 on the first.
    var configurations: [SweepConfiguration] {
        var list: [SweepConfiguration] = []
        for name in targetSets {
            let targets: TargetModules = name == "all-linear" ? .allLinear : .names(name.split(separator: ",").map(String.init))
            for rank in ranks { list.append(SweepConfiguration(rank: rank, targets: targets, targetName: name, dora: false)) }
        }
        list.append(SweepConfiguration(rank: 8, targets: .names(["q_proj", "v_proj"]), targetName: "q_proj,v_proj", dora: true))
        return list
    }
}

struct SweepError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
