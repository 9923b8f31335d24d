import Foundation
import PEFTKit

/// A model `config.json`: every architecture's reader, validation and parameter plan (which must
/// refuse absurd sizes before anything would be allocated).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let json = try? JSONValue.parse(Data(bytes: start, count: count)) else { return 0 }
    if let llama = try? LlamaConfiguration(json: json) { _ = try? llama.parameterPlan().elementCount() }
    if let gpt2 = try? GPT2Configuration(json: json) { _ = try? gpt2.parameterPlan().elementCount() }
    if let bert = try? BertConfiguration(json: json) { _ = try? bert.parameterPlan().elementCount() }
    return 0
}
