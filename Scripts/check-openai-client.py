#!/usr/bin/env python3
"""Opt-in check of `peftkit serve` with the official OpenAI Python client (pip install openai).

    Scripts/check-openai-client.py [BASE_URL] [BASE_NAME] [ADAPTER_NAME]

Against a running server (default http://127.0.0.1:8080/v1, models `smollm2` and `lora`, as
`peftkit serve --model SmolLM2-135M-Instruct.Q4_1.gguf --name smollm2 --adapter lora=DIR` serves
them): lists the models, asks each for a greedy chat answer whole and streamed (the streamed parts
must add up to the whole answer, with usage), a raw completion, and an unknown model (404).
"""
import sys

from openai import NotFoundError, OpenAI

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/v1"
base, adapter = (sys.argv[2:4] + ["smollm2", "lora"][len(sys.argv[2:4]):])[:2]
client = OpenAI(base_url=base_url, api_key="none")
ids = [model.id for model in client.models.list().data]
assert ids == [base, adapter], ids
question = [{"role": "user", "content": "What is the capital of France?"}]
for name in (base, adapter):
    whole = client.chat.completions.create(model=name, messages=question, max_tokens=24, temperature=0)
    text = whole.choices[0].message.content
    parts, usage = [], None
    for chunk in client.chat.completions.create(model=name, messages=question, max_tokens=24, temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(parts) == text, (parts, text)
    assert usage is not None and usage.total_tokens == whole.usage.total_tokens, (usage, whole.usage)
    print(f"{name}: {text!r} ({whole.choices[0].finish_reason}, {whole.usage.completion_tokens} tokens); streamed the same")
completion = client.completions.create(model=base, prompt="The capital of France is", max_tokens=8, temperature=0)
print(f"completion: {completion.choices[0].text!r}")
try:
    client.chat.completions.create(model="no-such-model", messages=question)
    raise SystemExit("an unknown model was answered")
except NotFoundError as error:
    print(f"unknown model: 404 {error.message[:80]!r}")
print("the OpenAI client works with peftkit serve")
