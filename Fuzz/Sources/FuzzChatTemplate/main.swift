import Foundation
import PEFTKit

/// A chat template (Jinja source) rendered on a short conversation, under tight limits so each input
/// finishes in milliseconds (the limits themselves are what is being tested).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let source = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    guard let template = try? ChatTemplate(source) else { return 0 }
    var limits = TemplateLimits()
    limits.maxSteps = 20_000
    limits.maxStringBytes = 1 << 20
    limits.maxOutputBytes = 1 << 20
    limits.maxSequenceLength = 1 << 16
    _ = try? template.render(messages: [.system("Be brief."), .user("Hi <|im_end|>"), .assistant("Hello!")],
                             addGenerationPrompt: true, specialTokens: ["bos_token": "<s>", "eos_token": "</s>"],
                             now: Date(timeIntervalSince1970: 0), limits: limits)
    return 0
}
