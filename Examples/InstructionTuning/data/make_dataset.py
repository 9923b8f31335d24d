#!/usr/bin/env python3
"""The instruction-tuning task of the example: rewrite a date as DD/MM/YYYY.

    python3 Examples/InstructionTuning/data/make_dataset.py

Writes train.jsonl (3,000 records) and eval.jsonl (200 records, dates never seen in training) in
the {"prompt", "response"} form. Each prompt gives a date in one of four written forms
(2023-07-14, July 14, 2023, 14 July 2023, 07/14/2023 US-style) with one of several phrasings; the
response is exactly the date as DD/MM/YYYY. The answer is checkable by string equality, and a
small chat model mostly answers with extra words or the wrong order before it is tuned.
Standard library only; the seed is fixed, so the files are reproducible.
"""
import datetime
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
PHRASINGS = [
    "Rewrite the date {date} in the format DD/MM/YYYY. Answer with the date only.",
    "Convert {date} to DD/MM/YYYY. Reply with just the date.",
    "What is {date} written as DD/MM/YYYY? Give only the date.",
    "Format the date {date} as day/month/year with two-digit day and month (DD/MM/YYYY). Output only the date.",
]


def written(day, style):
    if style == 0:
        return day.strftime("%Y-%m-%d")
    if style == 1:
        return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
    if style == 2:
        return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
    return f"{day.month:02d}/{day.day:02d}/{day.year} (month/day/year)"


def main():
    generator = random.Random(2026)
    start, span = datetime.date(1950, 1, 1), (datetime.date(2049, 12, 31) - datetime.date(1950, 1, 1)).days
    days = generator.sample(range(span + 1), 3200)
    splits = {"train.jsonl": days[:3000], "eval.jsonl": days[3000:]}
    for name, offsets in splits.items():
        with open(os.path.join(HERE, name), "w", encoding="utf-8") as handle:
            for offset in offsets:
                day = start + datetime.timedelta(days=offset)
                prompt = generator.choice(PHRASINGS).format(date=written(day, generator.randrange(4)))
                handle.write(json.dumps({"prompt": prompt, "response": day.strftime("%d/%m/%Y")}) + "\n")
    print({name: len(offsets) for name, offsets in splits.items()})


if __name__ == "__main__":
    main()
