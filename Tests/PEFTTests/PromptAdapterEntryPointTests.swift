import Autograd
import Foundation
import Models
import NN
import PEFT
import Testing
import Tensors

/// A prompt-tuning adapter reaches every entry point of the model it is attached to (issue 27,
/// defect 5): `lastLogits` once returned the base model's logits without a word.
@Suite("prompt adapter entry points")
struct PromptAdapterEntryPointTests {
    @Test("peft's prompt-tuning adapter: the model's own logits, lastLogits and generation are peft's adapted ones, not the base's")
    func everyEntryPointIsAdapted() throws {
        let reference = try Fixture.reference("llama-prompt")
        let model = try Fixture.base("tiny-llama") as! LlamaForCausalLM
        let ids = try Fixture.inputs("tiny-llama").input_ids
        let row = Array(ids.prefix(ids.count / 2))
        let baseLast = try withoutGradients { try model.lastLogits(row, cache: model.makeCache()) }
        let peft = try PeftModel.load(model, adapter: Fixture.adapters.appendingPathComponent("llama-prompt"))

        // No prefix passed: the attached adapter's virtual tokens are used, as peft's forward uses them.
        let logits = try Fixture.logits(model, base: "tiny-llama")
        #expect(Fixture.maxDifference(logits, reference.logits) < 1e-4)
        let last = try withoutGradients { try model.lastLogits(row, cache: model.makeCache()) }
        let vocabulary = logits.shape[2], width = logits.shape[1]
        let expected = Array(reference.logits[((width - 1) * vocabulary)..<(width * vocabulary)])
        #expect(zip(last, expected).map { abs($0 - $1) }.max()! < 1e-4, "lastLogits is the adapted model's")
        #expect(zip(last, baseLast).map { abs($0 - $1) }.max()! > 1e-2, "and not the base's")

        // Switched off, the model is the base again; the prefix comes back afterwards.
        let disabled = try peft.withAdaptersDisabled { try withoutGradients { try model.lastLogits(row, cache: model.makeCache()) } }
        #expect(disabled == baseLast)
        #expect(try withoutGradients { try model.lastLogits(row, cache: model.makeCache()) } == last)
        // Generation through the cache continues after the virtual tokens, in one pass or several.
        let options = GenerationOptions(maxNewTokens: 6)
        let generated = try model.generate(prompt: row, options: options)
        #expect(generated == (try model.generate(prompt: row, options: options, prefix: peft.activePromptEmbeddings)))
        var chunked = options
        chunked.prefillChunk = 7
        #expect(generated == (try model.generate(prompt: row, options: chunked)))
    }

    @Test("a prompt-tuning adapter cannot be merged: the refusal names it instead of returning the base model")
    func mergeRefused() throws {
        let model = try Fixture.base("tiny-llama") as! LlamaForCausalLM
        let peft = try PeftModel.load(model, adapter: Fixture.adapters.appendingPathComponent("llama-prompt"))
        #expect { try peft.mergeAndUnload() } throws: { error in
            guard case let .invalidState(message)? = error as? PEFTError else { return false }
            return message.contains("prompt tuning")
        }
        _ = try peft.unload()
        #expect(model.attachedPrefix == nil, "unloading takes the virtual tokens off the model")
    }
}
