/// Chat templates of model families whose files may carry none (llama.cpp keeps such built-in
/// templates too): a GGUF vocabulary without `tokenizer.chat_template` gets its architecture's
/// template from here. Written for this project from each family's documented turn format.
public enum BuiltinChatTemplates {
    /// Gemma's turn format (`<start_of_turn>user` … `<end_of_turn>`, the assistant's role named
    /// `model`, a system message folded into the first user turn), for model files without a template.
    public static let gemma = """
    {{- bos_token -}}
    {%- set first = 0 -%}
    {%- set system = '' -%}
    {%- if messages and messages[0]['role'] == 'system' -%}
    {%- set system = messages[0]['content'] + '\\n\\n' -%}
    {%- set first = 1 -%}
    {%- endif -%}
    {%- for message in messages[first:] -%}
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{- '<start_of_turn>' + role + '\\n' + (system if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' -}}
    {%- endfor -%}
    {%- if add_generation_prompt -%}
    {{- '<start_of_turn>model\\n' -}}
    {%- endif -%}
    """

    /// The template for a GGUF `general.architecture`, or nil when the family has none here.
    public static func template(forArchitecture architecture: String) -> String? {
        ["gemma", "gemma2", "gemma3"].contains(architecture) ? gemma : nil
    }
}
