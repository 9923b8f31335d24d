"""The training procedure of `peftkit train`, written with PyTorch + transformers + peft.

Imported by train_reference.py (the side-by-side benchmark) and by the training parity fixtures
(Tests/TrainingTests/Fixtures/make_training_fixtures.py). Everything that decides which numbers a
run produces is mirrored from PEFTKit's Swift sources, so both see the same examples in the same
order with the same masks:

- records: JSON array or JSONL; prompt/response, Alpaca, messages, prompt/completion, text
  (Sources/Training/Data/DatasetFile.swift)
- formatting: the chat template rendered on growing prefixes of the conversation; prompt tokens
  masked; the answer is the assistant message and its end-of-turn marker, trailing whitespace is
  context (Sources/Training/Data/PromptFormat.swift)
- order: per epoch, Fisher–Yates with xoshiro256** seeded by SplitMix64(seed + epoch·φ), then
  mega-batches of 50 batches sorted by length (Sources/Training/Data/BatchSampler.swift)
- step: micro-batches right-padded to their longest row; summed cross-entropy of the labelled next
  tokens divided by the step's target count; global-norm clipping; AdamW with biases and norm
  weights undecayed; HF warm-up schedules (Sources/Training/Trainer/Trainer.swift)
"""
import json
import math

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
IGNORE = -100


class SeededRandom:
    """xoshiro256** seeded through SplitMix64 (Sources/Tensors/SeededRandom.swift)."""

    def __init__(self, seed):
        x = seed & MASK64
        words = []
        for _ in range(4):
            x = (x + GOLDEN) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            words.append(z ^ (z >> 31))
        self.s = words

    def next(self):
        s0, s1, s2, s3 = self.s
        r = (s1 * 5) & MASK64
        result = (((r << 7) | (r >> 57)) & MASK64) * 9 & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & MASK64
        self.s = [s0, s1, s2, s3]
        return result


def shuffle(order, generator):
    for i in range(len(order) - 1, 0, -1):
        j = generator.next() % (i + 1)
        order[i], order[j] = order[j], order[i]


def epoch_batches(lengths, batch_size, epoch, seed, shuffled=True, group_by_length=True):
    order = list(range(len(lengths)))
    if shuffled:
        shuffle(order, SeededRandom((seed + epoch * GOLDEN) & MASK64))
    if group_by_length:
        mega = batch_size * 50
        grouped = []
        for start in range(0, len(order), mega):
            chunk = list(enumerate(order[start:start + mega]))
            chunk.sort(key=lambda pair: (-lengths[pair[1]], pair[0]))
            grouped += [index for _, index in chunk]
        order = grouped
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------- records and formatting

def read_records(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):
        objects = json.loads(text)
    else:
        objects = [json.loads(line) for line in text.split("\n") if line.strip()]
    return [to_record(obj) for obj in objects]


def to_record(obj):
    keys = set(obj)
    if "messages" in keys:
        messages = ([{"role": "system", "content": obj["system"]}] if obj.get("system") is not None else [])
        return ("chat", messages + [{"role": m["role"], "content": m["content"]} for m in obj["messages"]])
    if "instruction" in keys and "output" in keys:
        prompt = obj["instruction"] if not obj.get("input") else obj["instruction"] + "\n\n" + obj["input"]
        return ("instruction", prompt, obj["output"], obj.get("system"))
    if "prompt" in keys and "response" in keys:
        return ("instruction", obj["prompt"], obj["response"], obj.get("system"))
    if "prompt" in keys and "completion" in keys:
        return ("completion", obj["prompt"], obj["completion"])
    if "text" in keys:
        return ("text", obj["text"])
    raise ValueError(f"unknown record {sorted(keys)}")


def conversation(record):
    if record[0] == "chat":
        return record[1]
    _, prompt, response, system = record
    messages = [{"role": "system", "content": system}] if system is not None else []
    return messages + [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def template_segments(tokenizer, messages):
    """(text, trained) pieces from renderings of growing prefixes of the conversation."""
    segments, rendered = [], ""

    def extend(text, trained):
        nonlocal rendered
        assert text.startswith(rendered), "the chat template does not render incrementally"
        added = text[len(rendered):]
        rendered = text
        if not added:
            return
        if trained:
            body = added.rstrip()
            if body:
                segments.append((body, True))
            if len(added) > len(body):
                segments.append((added[len(body):], False))
        else:
            segments.append((added, False))

    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        extend(tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True), False)
        extend(tokenizer.apply_chat_template(messages[:index + 1], tokenize=False, add_generation_prompt=False), True)
    return segments


def tokenize(record, tokenizer, max_length):
    """(ids, labels, truncated) as PEFTKit's TrainingDataset makes them (chat-template format)."""
    ids, labels = [], []
    if record[0] in ("completion", "text"):
        pieces = [(record[1], False), (record[2], True)] if record[0] == "completion" else [(record[1], True)]
        for index, (text, trained) in enumerate(pieces):
            piece = tokenizer(text, add_special_tokens=(index == 0))["input_ids"]
            ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
        if tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
            labels.append(tokenizer.eos_token_id)
    else:
        for text, trained in template_segments(tokenizer, conversation(record)):
            piece = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if trained else [IGNORE] * len(piece)
    truncated = len(ids) > max_length
    return ids[:max_length], labels[:max_length], truncated


def target_count(labels):
    return sum(1 for label in labels[1:] if label != IGNORE)


# ---------------------------------------------------------------- the step

def schedule_rate(peak, shape, warmup, total, step):
    if step < warmup:
        return peak * step / max(1, warmup)
    remaining = max(1, total - warmup)
    if shape == "constant":
        return peak
    if shape == "linear":
        return peak * max(0.0, (total - step) / remaining)
    return peak * max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / remaining)))


def collate(examples, torch):
    length = max(len(ids) for ids, _ in examples)
    input_ids = torch.zeros(len(examples), length, dtype=torch.long)
    mask = torch.zeros(len(examples), length, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    for row, (ids, row_labels) in enumerate(examples):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        mask[row, :len(ids)] = 1
        labels[row, :len(ids)] = torch.tensor(row_labels)
    return input_ids, mask, labels


def micro_batch_loss_sum(model, input_ids, mask, labels, torch, autocast=None):
    """Summed next-token cross-entropy over labelled positions.

    `autocast` ("bfloat16" or "float16") runs the forward pass and the loss under
    `torch.autocast("cpu", dtype=...)`, as Hugging Face's Trainer does with `bf16=True` on a CPU."""
    if autocast:
        with torch.autocast("cpu", dtype=getattr(torch, autocast)):
            return micro_batch_loss_sum(model, input_ids, mask, labels, torch)
    logits = model(input_ids=input_ids, attention_mask=mask).logits
    shifted_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    shifted_labels = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(shifted_logits, shifted_labels, ignore_index=IGNORE, reduction="sum")


def make_optimizer(model, learning_rate, weight_decay, torch):
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        lowered = name.lower()
        undecayed = lowered.endswith("bias") or lowered.endswith("norm.weight") or "layernorm" in lowered or "layer_norm" in lowered
        (no_decay if undecayed else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=learning_rate, betas=(0.9, 0.999), eps=1e-8)


def train(model, examples, *, torch, batch_size, accumulation, steps, learning_rate, weight_decay=0.0, warmup=0,
          shape="linear", max_grad_norm=1.0, seed=0, shuffled=True, group_by_length=True, on_step=None,
          regularizer=None, after_update=None, start_step=0, optimizer=None, autocast=None):
    """Runs optimizer steps `start_step..<steps` exactly as PEFTKit's Trainer does; returns their losses.

    `regularizer()` (AdaLoRA's orthogonality penalty) is added once per step before clipping;
    `after_update(step)` (AdaLoRA's `update_and_allocate`) runs after the optimizer step, before the
    gradients are cleared, with the 0-based step — PEFTKit's method hooks. `autocast` computes the
    forward passes in that reduced precision (see `micro_batch_loss_sum`); weights, gradients and
    the optimizer stay in float32. A run continued from a
    PEFTKit checkpoint of step `start_step` passes the optimizer holding its moments; the data order
    and the schedule then go on from that step (without gradient accumulation across an epoch's end)."""
    optimizer = optimizer or make_optimizer(model, learning_rate, weight_decay, torch)
    parameters = [p for p in model.parameters() if p.requires_grad]
    lengths = [len(ids) for ids, _ in examples]
    epoch, cursor = 0, 0
    batches = epoch_batches(lengths, batch_size, epoch, seed, shuffled, group_by_length)
    for _ in range(start_step):  # the batches the first steps took
        if cursor >= len(batches):
            epoch, cursor = epoch + 1, 0
            batches = epoch_batches(lengths, batch_size, epoch, seed, shuffled, group_by_length)
        cursor += len(batches[cursor:cursor + accumulation])
    losses = []
    model.train()
    for step in range(start_step, steps):
        if cursor >= len(batches):
            epoch, cursor = epoch + 1, 0
            batches = epoch_batches(lengths, batch_size, epoch, seed, shuffled, group_by_length)
        micro = batches[cursor:cursor + accumulation]
        cursor += len(micro)
        targets = sum(target_count(examples[i][1]) for batch in micro for i in batch)
        total = 0.0
        for batch in micro:
            input_ids, mask, labels = collate([examples[i] for i in batch], torch)
            loss = micro_batch_loss_sum(model, input_ids, mask, labels, torch, autocast) / targets
            loss.backward()
            total += loss.item()
        if regularizer is not None:
            penalty = regularizer()
            penalty.backward()
            total += penalty.item()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        for group in optimizer.param_groups:
            group["lr"] = schedule_rate(learning_rate, shape, warmup, steps, step)
        optimizer.step()
        if after_update is not None:
            after_update(step)
        optimizer.zero_grad(set_to_none=True)
        losses.append(total)
        if on_step:
            on_step(step + 1, total, epoch + cursor / len(batches))
    return losses
