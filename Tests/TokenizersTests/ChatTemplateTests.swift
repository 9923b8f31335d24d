import ModelIO
import Foundation
import Testing
import Tokenizers

struct TemplateFixture: Decodable {
    struct Message: Decodable { let role: String; let content: String }
    struct Case: Decodable {
        let messages: [Message]
        let add_generation_prompt: Bool
        let rendered: String?
        let error: String?
    }
    let name: String
    let template: String
    let bos_token: String
    let eos_token: String
    let cases: [Case]

    static func all() throws -> [TemplateFixture] {
        try JSONDecoder().decode([TemplateFixture].self, from: Data(contentsOf: Fixtures.root.appendingPathComponent("chat_templates.json")))
    }
}

@Suite("Chat templates")
struct ChatTemplateTests {
    static let tools = TemplateValue(json: try! JSONValue.parse(
        #"[{"type": "function", "function": {"name": "get_weather", "parameters": {"city": "string"}}}]"#))

    @Test("identical to transformers' apply_chat_template",
          arguments: ["smollm2", "qwen2", "llama3", "mistral", "llama2", "zephyr", "gemma", "features"])
    func matchesTransformers(name: String) throws {
        let fixture = try #require(try TemplateFixture.all().first { $0.name == name })
        let template = try ChatTemplate(fixture.template)
        for item in fixture.cases {
            let messages = item.messages.map { ChatMessage(role: $0.role, content: $0.content) }
            let render = {
                try template.render(messages: messages, addGenerationPrompt: item.add_generation_prompt,
                                    specialTokens: ["bos_token": fixture.bos_token, "eos_token": fixture.eos_token],
                                    variables: name == "features" ? ["tools": Self.tools] : [:])
            }
            if let expected = item.rendered {
                let rendered = try render()
                #expect(Array(rendered.unicodeScalars) == Array(expected.unicodeScalars),
                        "\(name) \(item.messages.map(\.role)) gen=\(item.add_generation_prompt):\n\(rendered.debugDescription)\nvs\n\(expected.debugDescription)")
            } else {
                #expect(throws: TemplateError.self, "\(name) should raise: \(item.error ?? "")") { try render() }
            }
        }
    }

    @Test("SmolLM2 tokenizer folder: template + ids as transformers would build them")
    func smolLM2Prompt() throws {
        let tokenizer = try Fixtures.tokenizer("smollm2")
        let prompt = try tokenizer.applyChatTemplate([.user("What is the capital of France?")])
        #expect(prompt == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
        let ids = try tokenizer.encode(prompt, addSpecialTokens: false, parseSpecialTokens: true)
        #expect(ids.first == 1 && ids.last == 198 && ids.filter { $0 == 1 }.count == 3)
    }

    @Test("escape and e HTML-escape like markupsafe; safe leaves text alone (Jinja2 3.1 results)")
    func escapeFilters() throws {
        let source = "{{ messages[0].content | e }}|{{ messages[0].content | escape }}|{{ messages[0].content | safe }}|{{ 3 | e }}"
        let rendered = try ChatTemplate(source).render(messages: [.user("<b>\"Tom\" & 'Jerry'</b>")], addGenerationPrompt: false)
        #expect(rendered == "&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;|&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;|<b>\"Tom\" & 'Jerry'</b>|3")
    }

    @Test("unsupported constructs and syntax errors are typed errors naming the problem")
    func errors() {
        func message(_ source: String) -> String {
            do {
                _ = try ChatTemplate(source).render(messages: [.user("x")], addGenerationPrompt: false)
                return "no error"
            } catch let error as TemplateError {
                return error.description
            } catch {
                return "\(error)"
            }
        }
        #expect(message("{% include 'other.jinja' %}").contains("unsupported statement '{% include %}'"))
        #expect(message("{{ messages | wordwrap }}").contains("unsupported filter 'wordwrap'"))
        #expect(message("{{ cycler(1, 2) }}").contains("'cycler'"))
        #expect(message("{% for m in messages %}{{ m.role }}").contains("missing {% else / endfor %}"))
        #expect(message("{{ 'unterminated }}").contains("unclosed tag '{{'"))
        #expect(message("line one\n{{ nothing.attribute }}").contains("line 2"))
        #expect(message("{{ raise_exception('Roles must alternate') }}").contains("Roles must alternate"))
    }
}
