import Foundation
import Testing

/// Every public declaration in `Sources/` carries a doc comment (`///` on the line above, attributes
/// aside): the reference a newcomer reads is the code. That includes declarations whose modifiers
/// come first (`nonisolated(unsafe) public static var`, `final public class`) and every case of a
/// public enum.
@Suite("documentation")
struct DocumentationTests {
    @Test("every public declaration has a doc comment")
    func publicDeclarationsAreDocumented() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
        let modifiers = #"((nonisolated(\(unsafe\))?|final|static|class|override|mutating|nonmutating|required|convenience|indirect|lazy|weak|unowned)\s+)*"#
        let declaration = try Regex(#"^(@\w+(\(.*?\))?\s+)*"# + modifiers + #"(public|open)\s"#)
        let exempt = try Regex(#"^public\s+(import|extension)"#)
        let publicEnum = try Regex(#"^(@\w+(\(.*?\))?\s+)*public\s+(indirect\s+)?enum\s"#)
        var missing: [String] = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
            var depth = 0, enumBodies: [Int] = []  // brace depths of the public enums' bodies being read
            for (index, line) in lines.enumerated() {
                let text = line.trimmingCharacters(in: .whitespaces)
                defer {
                    depth += line.filter { $0 == "{" }.count - line.filter { $0 == "}" }.count
                    while let body = enumBodies.last, depth < body { enumBodies.removeLast() }
                }
                if text.firstMatch(of: publicEnum) != nil { enumBodies.append(depth + 1) }
                let isPublicCase = text.hasPrefix("case ") && enumBodies.last == depth
                guard isPublicCase || (text.firstMatch(of: declaration) != nil && text.firstMatch(of: exempt) == nil) else { continue }
                var above = index - 1
                while above >= 0 && lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("@") { above -= 1 }
                let previous = above >= 0 ? lines[above].trimmingCharacters(in: .whitespaces) : ""
                if !previous.hasPrefix("///") && !previous.hasSuffix("*/") {
                    missing.append("\(url.path.replacingOccurrences(of: sources.path + "/", with: "")):\(index + 1): \(text.prefix(80))")
                }
            }
        }
        #expect(missing.isEmpty, "undocumented public declarations:\n\(missing.joined(separator: "\n"))")
    }
}

/// The architecture guide's module table lists exactly the package's modules, bottom to top.
@Suite("architecture guide")
struct ArchitectureGuideTests {
    @Test("the module table names every target of Package.swift (examples, benchmarks and tests aside) and nothing else")
    func moduleTableMatchesThePackage() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let package = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let declaration = try Regex(#"\.(target|systemLibrary|executableTarget)\(\s*name:\s*"([^"]+)""#)
        var targets = Set(package.matches(of: declaration).compactMap { $0.output[2].substring.map(String.init) })
        // Examples and benchmarks are executables of their own folders, not modules of the library.
        let outside = ["InstructionTuning", "TextClassification", "RankSweep", "GEMMBenchmark", "TokenizerBenchmark", "DecodeBenchmark",
                       "TrainingStepBenchmark", "ForgettingCurves", "AttentionBenchmark"]
        targets.subtract(outside)
        let guide = try String(contentsOf: root.appendingPathComponent("Documentation/Architecture.md"), encoding: .utf8)
        let table = guide.components(separatedBy: "| module | owns | status |")[1].components(separatedBy: "\n\n")[0]
        var row: [String: Int] = [:]  // module → its row, bottom first
        for (index, line) in table.split(separator: "\n").dropFirst().enumerated() {  // after the separator row
            let cell = line.split(separator: "|")[0]
            for part in cell.split(separator: "`", omittingEmptySubsequences: false).enumerated() where part.offset % 2 == 1 { row[String(part.element)] = index }
        }
        let listed = Set(row.keys)
        #expect(listed == targets, "in the guide only: \(listed.subtracting(targets).sorted()); in Package.swift only: \(targets.subtracting(listed).sorted())")
        // Bottom to top: every module comes after the modules it depends on.
        let dependencies = try Regex(#"name:\s*"([^"]+)",\s*dependencies:\s*\[([^\]]*)\]"#)
        for match in package.matches(of: dependencies) {
            guard let name = match.output[1].substring.map(String.init), let at = row[name], let list = match.output[2].substring else { continue }
            for dependency in list.split(separator: "\"", omittingEmptySubsequences: false).enumerated() where dependency.offset % 2 == 1 {
                if let below = row[String(dependency.element)] { #expect(below <= at, "\(name) is listed below its dependency \(dependency.element)") }
            }
        }
    }
}
