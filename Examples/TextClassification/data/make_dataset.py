#!/usr/bin/env python3
"""A four-topic text-classification task for the classification example: sports, weather, cooking, money.

    python3 Examples/TextClassification/data/make_dataset.py

Writes train.jsonl (1,600 records) and eval.jsonl (400 records) of {"text", "label"}. Each text is a
short sentence built from a topic's nouns and verbs inside neutral templates, often with a word of
another topic as a distractor, so the label follows the sentence's subject rather than any one
word. Standard library only; the seed is fixed.
"""
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
TOPICS = {
    "sports": (["the striker", "our goalkeeper", "the home team", "the referee", "the marathon runner", "the coach", "the tennis champion"],
               ["scored twice in the second half", "was injured during practice", "won the final on penalties",
                "trained for the championship", "broke the national record", "lost the derby"]),
    "weather": (["a cold front", "the storm", "heavy rain", "the morning fog", "a heatwave", "the forecast", "strong wind"],
                ["is expected by Friday", "flooded the valley roads", "brought snow to the hills", "kept temperatures near freezing",
                 "cleared up by the afternoon", "delayed flights at the airport"]),
    "cooking": (["the chef", "my grandmother", "the bakery", "the new recipe", "the soup", "a slow-cooked stew", "the pastry"],
                ["needs two cups of flour", "simmered for three hours", "was seasoned with thyme and garlic", "came out of the oven golden",
                 "uses fresh tomatoes and basil", "tasted better the next day"]),
    "money": (["the central bank", "my savings account", "the stock market", "the loan", "inflation", "the startup", "the pension fund"],
              ["raised interest rates again", "fell three percent this week", "paid a dividend to shareholders", "doubled its revenue",
               "charges a monthly fee", "cut its budget for next year"]),
}
TEMPLATES = ["{subject} {verb}.", "Yesterday {subject} {verb}.", "I read that {subject} {verb}, {aside}.",
             "Apparently {subject} {verb}.", "Everyone says {subject} {verb} — {aside}."]
ASIDES = ["even though the {other} was on everyone's mind", "not that the {other} mattered", "despite talk about the {other}", "as expected"]
OTHERS = {"sports": "match", "weather": "rain", "cooking": "dinner", "money": "budget"}


def sentence(generator, topic):
    subjects, verbs = TOPICS[topic]
    other = OTHERS[generator.choice([t for t in TOPICS if t != topic])]
    aside = generator.choice(ASIDES).format(other=other)
    text = generator.choice(TEMPLATES).format(subject=generator.choice(subjects), verb=generator.choice(verbs), aside=aside)
    return text[0].upper() + text[1:]


def main():
    generator = random.Random(11)
    for name, count in [("train.jsonl", 1600), ("eval.jsonl", 400)]:
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as handle:
            for _ in range(count):
                topic = generator.choice(sorted(TOPICS))
                handle.write(json.dumps({"text": sentence(generator, topic), "label": topic}) + "\n")
    print("written")


if __name__ == "__main__":
    main()
