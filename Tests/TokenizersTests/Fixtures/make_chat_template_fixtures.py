#!/usr/bin/env python3
"""Regenerates Fixtures/chat_templates.json: prompts rendered by transformers' `apply_chat_template`.

Run from the repository root in a virtualenv with `transformers` and `jinja2`:
    python Tests/TokenizersTests/Fixtures/make_chat_template_fixtures.py
It renders each template family below (SmolLM2's own from the fixture folder, and the public
templates of Qwen2, Llama 3, Mistral, Llama 2, Zephyr and Gemma) on several conversations, with and
without the generation prompt. A template that raises records the error instead of a prompt.
"""
import json
import os

from transformers import PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))

TEMPLATES = {
    "smollm2": open(os.path.join(HERE, "smollm2", "chat_template.jinja"), encoding="utf-8").read(),
    "qwen2": "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "llama2": "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
    "zephyr": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
    "gemma": "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
    "features": "{%- set ns = namespace(count=0, names=[]) -%}\n{%- for m in messages if m['role'] != 'system' -%}\n  {%- set ns.count = ns.count + 1 -%}\n  {{ loop.index }}/{{ loop.length }} {{ m.role | upper }}: {{ m.content | length }} chars{{ ', last' if loop.last else '' }}\n{% endfor -%}\n{{ ns.count }} non-system; tools={{ tools | tojson }}; first={{ (messages | first)['role'] }}\n{%- if messages | selectattr('role', 'equalto', 'system') | list | length > 0 %} has-system{% endif %}\n{%- for k, v in {'a': 1, 'b': [1, 2]}.items() %} {{ k }}={{ v }}{% endfor %}\n{{ 'x' ~ 3 ~ none }} {{ 7 // 2 }} {{ 7 % 3 }} {{ -2 ** 2 }} {{ [1, 2, 3][1:] }} {{ 'abc'[::-1] }} {{ 'a,b'.split(',') }}\n{% macro tag(name, value='?') %}<{{ name }}:{{ value }}>{% endmacro %}{{ tag('x') }}{{ tag('y', value=2) }}\n",
}

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there, how can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "  padded content with <|im_end|> and [INST] inside\nand a newline  "},
     {"role": "assistant", "content": "Émojis 😀 and 中文 and tabs\tok"}],
    [{"role": "assistant", "content": "I speak first."}],
]

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"city": "string"}}}]


def main():
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(HERE, "smollm2", "tokenizer.json"))
    out = []
    for name, template in TEMPLATES.items():
        cases = []
        for messages in CONVERSATIONS:
            for add_generation_prompt in (False, True):
                case = {"messages": messages, "add_generation_prompt": add_generation_prompt}
                try:
                    case["rendered"] = tokenizer.apply_chat_template(
                        messages, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt,
                        bos_token="<s>", eos_token="</s>", tools=TOOLS if name == "features" else None)
                except Exception as error:  # raise_exception in the template
                    case["error"] = str(error)
                cases.append(case)
        out.append({"name": name, "template": template, "bos_token": "<s>", "eos_token": "</s>", "cases": cases})
    with open(os.path.join(HERE, "chat_templates.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print("wrote", len(out), "templates")


if __name__ == "__main__":
    main()
