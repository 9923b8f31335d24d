import Foundation
import Testing

/// Every public declaration in `Sources/` carries a doc comment (`///` on the line above, attributes
/// aside): the reference a newcomer reads is the code.
@Suite("documentation")
struct DocumentationTests {
    @Test("every public declaration has a doc comment")
    func publicDeclarationsAreDocumented() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
        let declaration = try Regex(#"^(@\w+(\(.*?\))?\s+)*(public|open)\s"#)
        let exempt = try Regex(#"^public\s+(import|extension)"#)
        var missing: [String] = []
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let lines = try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\n")
            for (index, line) in lines.enumerated() {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard text.firstMatch(of: declaration) != nil, text.firstMatch(of: exempt) == nil else { continue }
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
