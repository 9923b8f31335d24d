import Foundation
import ModelIO
import Models
import NN
import Testing

/// What a family adds to a configuration (windows, layer kinds, rotary width, scales, soft-capping)
/// is checked like the shared sizes: a typed error naming the key, before anything is allocated.
@Suite("Hostile decoder-family configurations")
struct HostileFamilyConfigurationTests {
    static let families = TinyModelParityTests.fixtures.appendingPathComponent("families")

    /// The family's fixture `config.json` with `edit` applied to its members.
    func configuration(_ family: String, _ edit: (inout [(key: String, value: JSONValue)]) -> Void) throws -> DecoderConfiguration {
        let json = try JSONValue.parse(Data(contentsOf: Self.families.appendingPathComponent(family).appendingPathComponent("config.json")))
        var members = try #require(json.members)
        edit(&members)
        return try DecoderConfiguration(json: .object(members))
    }

    func set(_ key: String, _ value: JSONValue) -> (inout [(key: String, value: JSONValue)]) -> Void {
        { members in
            members.removeAll { $0.key == key }
            members.append((key, value))
        }
    }

    func field(_ body: () throws -> Void) -> String? {
        do { try body() } catch let ModelError.invalidConfiguration(field, _) { return field } catch { return "other: \(error)" }
        return nil
    }

    @Test("each bad family field is refused with its key named")
    func namedErrors() throws {
        let layerTypes: JSONValue = .array([.string("sliding_attention")])
        #expect(field { _ = try configuration("gemma3", set("layer_types", layerTypes)) } == "layer_types")
        #expect(field { _ = try configuration("gemma3", set("layer_types", .array(Array(repeating: .string("local"), count: 6)))) } == "layer_types")
        #expect(field { _ = try configuration("gemma3", set("sliding_window", .number(100_000))) } == "sliding_window")
        #expect(field { _ = try configuration("gemma3", set("sliding_window", .number(0))) } == "sliding_window")
        #expect(field { _ = try configuration("gemma3", set("query_pre_attn_scalar", .number(-4))) } == "query_pre_attn_scalar")
        #expect(field { _ = try configuration("gemma3", set("final_logit_softcapping", .string("big"))) } == "final_logit_softcapping")
        #expect(field { _ = try configuration("gemma3", set("attn_logit_softcapping", .number(50))) } == "attn_logit_softcapping")
        #expect(field { _ = try configuration("gemma3", set("hidden_activation", .string("relu6"))) } == "hidden_activation")
        #expect(field { _ = try configuration("mistral", set("sliding_window", .number(1e12))) } == "sliding_window")
        #expect(field { _ = try configuration("phi3", set("partial_rotary_factor", .number(1.5))) } == "partial_rotary_factor")
        #expect(field { _ = try configuration("phi3", set("partial_rotary_factor", .number(0.01))) } == "partial_rotary_factor")
        #expect(field { _ = try configuration("qwen3", set("head_dim", .number(7))) } == "head_dim")
        #expect(field { _ = try configuration("qwen3", set("head_dim", .number(524_288))) } == "head_dim")
        #expect(field { _ = try configuration("qwen3", set("num_key_value_heads", .number(3))) } == "num_key_value_heads")
        #expect(field {
            _ = try configuration("qwen2") { members in
                members.removeAll { $0.key == "layer_types" }
                set("max_window_layers", .string("one"))(&members)
            }
        } == "max_window_layers")
        #expect(field { _ = try configuration("qwen2", set("rope_scaling", .object([("rope_type", .string("yarn")), ("factor", .number(4))]))) }
                == "rope_scaling.rope_type")
        #expect(field { _ = try configuration("qwen2", set("rope_scaling", .object([("rope_type", .string("linear"))]))) } == "rope_scaling.factor")
        #expect(field { _ = try configuration("qwen2", set("rope_theta", .number(-1))) } == "rope_theta")
        // LongRoPE (transformers ≥ 5 writes it in rope_parameters): factor lists of the wrong length or kind, no original context.
        func rope(_ edit: @escaping (inout [(key: String, value: JSONValue)]) -> Void) -> (inout [(key: String, value: JSONValue)]) -> Void {
            { members in
                guard let index = members.firstIndex(where: { $0.key == "rope_parameters" }), var rope = members[index].value.members else { return }
                edit(&rope)
                members[index].value = .object(rope)
            }
        }
        #expect(field { _ = try configuration("phi4mini", rope(set("short_factor", .array([.number(1)])))) } == "short_factor")
        #expect(field { _ = try configuration("phi4mini", rope(set("long_factor", .array([.number(1), .string("x"), .number(1)])))) }
                == "rope_parameters.long_factor")
        #expect(field { _ = try configuration("phi4mini", rope(set("long_factor", .array([.number(1), .number(-2), .number(1)])))) }
                == "rope_parameters.long_factor")
        #expect(field {
            _ = try configuration("phi4mini") { members in
                members.removeAll { $0.key == "original_max_position_embeddings" }
                rope { $0.removeAll { $0.key == "original_max_position_embeddings" } }(&members)
            }
        } == "original_max_position_embeddings")
        #expect(field { _ = try configuration("llama32", rope(set("low_freq_factor", .string("low")))) } == "rope_parameters.low_freq_factor")
        #expect(field { _ = try configuration("llama32", rope(set("rope_theta", .string("big")))) } == "rope_parameters.rope_theta")
        #expect(throws: ModelError.unsupportedArchitecture("gemma2")) { try configuration("gemma3", set("model_type", .string("gemma2"))) }
    }

    @Test("each family's parameter plan is exactly its module tree")
    func plans() throws {
        for family in DecoderFamily.all {
            var c = DecoderConfiguration(vocabularySize: 11, hiddenSize: 8, intermediateSize: 12, layerCount: 2, attentionHeads: 2,
                                         keyValueHeads: 1, headDimension: 6, attentionBias: true, family: family)
            c.mlpBias = true
            let planned = Dictionary(uniqueKeysWithValues: c.parameterPlan().shapes.map { ($0.name, $0.shape) })
            let built = Dictionary(uniqueKeysWithValues: try DecoderForCausalLM(c).namedParameters().map { ($0.path, $0.parameter.shape) })
            #expect(planned == built, "\(family.name)")
        }
    }

    /// The fixture Gemma 3 GGUF with one metadata entry patched in place: the 4-byte value after
    /// `key` replaced (`value`), or one byte of the key's name changed (`value` nil: the key is gone).
    func patchedGGUF(_ key: String, _ value: UInt32?) throws -> GGUFFile {
        var bytes = [UInt8](try Data(contentsOf: Self.families.appendingPathComponent("gemma3.gguf")))
        let name = [UInt8](key.utf8)
        guard let start = (0...(bytes.count - name.count)).first(where: { bytes[$0..<($0 + name.count)].elementsEqual(name) }) else {
            throw ModelError.invalidConfiguration(field: key, reason: "not in the fixture")
        }
        if let value {
            let at = start + name.count + 4  // after the key and its u32 type tag
            for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        } else {
            bytes[start + name.count - 1] ^= 0x20
        }
        return try GGUFFile(data: Data(bytes))
    }

    @Test("a GGUF with broken family metadata is a typed error naming the GGUF key")
    func gguf() throws {
        func failing(_ key: String, _ value: UInt32?) throws -> String? {
            let file = try patchedGGUF(key, value)
            return field { _ = try DecoderConfiguration(gguf: file) }
        }
        #expect(try failing("gemma3.attention.sliding_window", 100_000) == "gemma3.attention.sliding_window")
        #expect(try failing("gemma3.attention.sliding_window", 0) == "gemma3.attention.sliding_window")
        #expect(try failing("gemma3.attention.key_length", 7) == "gemma3.attention.key_length")
        #expect(try failing("gemma3.attention.head_count_kv", 3) == "gemma3.attention.head_count_kv")
        #expect(try failing("gemma3.attention.layer_norm_rms_epsilon", nil) == "gemma3.attention.layer_norm_rms_epsilon")
        #expect(try failing("gemma3.block_count", nil) == "gemma3.block_count")
    }
}
