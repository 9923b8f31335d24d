import Foundation
import Testing
import Tokenizers

/// Chat templates are programs written by whoever published a model. Each class of hostile template
/// found by fuzzing ends in a `TemplateError` naming the problem — never a trap, a stack overflow, a
/// hang or gigabytes of memory.
@Suite("Hostile chat templates")
struct HostileTemplateTests {
    func render(_ source: String, limits: TemplateLimits = TemplateLimits()) -> String {
        do {
            return "rendered: " + (try ChatTemplate(source).render(messages: [.user("hi")], addGenerationPrompt: false, limits: limits))
        } catch let error as TemplateError {
            return "error: " + error.description
        } catch {
            return "untyped: \(error)"
        }
    }

    static let minimum = "(-9223372036854775807 - 1)"

    @Test("integer arithmetic beyond 64 bits is an error; Python's results otherwise", arguments: [
        ("{{ 10 ** 400 }}", "error: line 1: integer overflow in 10 ** 400"),
        ("{{ 9223372036854775807 + 1 }}", "error: line 1: integer overflow in 9223372036854775807 + 1"),
        ("{{ 3037000500 * 3037000500 }}", "error: line 1: integer overflow"),
        ("{{ -\(minimum) }}", "error: line 1: integer overflow in -(-9223372036854775808)"),
        ("{{ \(minimum) // -1 }}", "error: line 1: integer overflow"),
        ("{{ \(minimum) % -1 }}", "rendered: 0"),
        ("{{ \(minimum) | abs }}", "error: line 1: integer overflow in abs(-9223372036854775808)"),
        ("{{ 100000000000000000000.0 | int }}", "error: line 1: 1e+20 does not fit in a 64-bit integer"),
        ("{{ range(100000000000000000000.0) | length }}", "error: line 1: 1e+20 does not fit in a 64-bit integer"),
        ("{{ 'abc'[100000000000000000000.0:] }}", "error: line 1: 1e+20 does not fit in a 64-bit integer"),
        ("{% if 7 is divisibleby(-1) %}yes{% endif %}", "rendered: yes"),
        ("{{ [1] | tojson(indent=-1) }}", "error: line 1: tojson indent must be in 0...16, got -1"),
        ("{{ [1] | tojson(indent=100000000) }}", "error: line 1: tojson indent must be in 0...16, got 100000000"),
        ("{{ -7 // 2 }} {{ -7 % 2 }} {{ 7 % -2 }} {{ 2 ** 62 }} {{ 7.5 // 2 }}", "rendered: -4 1 -1 4611686018427387904 3.0"),
        ("{{ 1 // 0 }}", "error: line 1: division by zero"),
        ("{{ 1.5 % 0 }}", "error: line 1: division by zero"),
    ])
    func integers(_ source: String, _ expected: String) {
        let result = render(source)
        #expect(result.hasPrefix(expected), "\(result)")
    }

    @Test("deep nesting and recursion stop at a limit, in the parser and the renderer", arguments: [
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "macro 'f' calls nest deeper than 64"),
        ("{{ " + String(repeating: "(", count: 20_000) + "1" + String(repeating: ")", count: 20_000) + " }}", "nested deeper than 32"),
        ("{{ " + String(repeating: "[", count: 20_000) + "1" + String(repeating: "]", count: 20_000) + " }}", "nested deeper than 32"),
        ("{{ " + String(repeating: "not ", count: 20_000) + "x }}", "too complex"),
        ("{{ " + String(repeating: "-", count: 20_000) + "1 }}", "too complex"),
        ("{{ 1" + String(repeating: " + 1", count: 20_000) + " }}", "too complex"),
        ("{{ x" + String(repeating: ".a", count: 20_000) + " }}", "too complex"),
        ("{{ x" + String(repeating: "|trim", count: 20_000) + " }}", "too complex"),
        (String(repeating: "{% if true %}", count: 20_000) + String(repeating: "{% endif %}", count: 20_000), "blocks nested deeper than 64"),
        ("{% break %}", "{% break %} outside a loop"),
    ])
    func nesting(_ source: String, _ expected: String) {
        let result = render(source)
        #expect(result.hasPrefix("error: ") && result.contains(expected), "\(result.prefix(200))")
    }

    @Test("unbounded work and memory stop at a limit", arguments: [
        ("{{ range(9223372036854775807) | length }}", "range of 9.223372036854776e+18 items exceeds 1048576"),
        ("{{ 'a' * 10000000000 }}", "a string grew past 16777216 bytes"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "more than 200000 steps"),
        ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "a string grew past"),
        ("{% set ns = namespace(x=[1]) %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}", "a list grew past"),
        ("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}", "nest deeper than 128"),
        ("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}", "nest deeper than 128"),
        ("{{ ('a' * 1000000) | replace('a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') }}", "replace could grow a string past"),
        ("{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' * 1000 }}{% endfor %}", "the rendered prompt grew past"),
    ])
    func work(_ source: String, _ expected: String) {
        var limits = TemplateLimits()
        limits.maxSteps = 200_000
        let result = render(source, limits: limits)
        #expect(result.hasPrefix("error: ") && result.contains(expected), "\(result.prefix(200))")
    }

    @Test("templates at the limits still render")
    func withinLimits() {
        let nested = "{{ " + String(repeating: "(", count: 30) + "1" + String(repeating: ")", count: 30) + " }}"
        #expect(render(nested) == "rendered: 1")
        let chain = "{{ 0" + String(repeating: " + 1", count: 200) + " }}"
        #expect(render(chain) == "rendered: 200")
        let recursion = "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ f(60) }}"
        #expect(render(recursion) == "rendered: done")
    }
}
