#!/usr/bin/env python3
"""Reads a PEFTKit run's TensorBoard event files with the tensorboard package's EventAccumulator
and compares every scalar with the run's metrics.jsonl (the opt-in check of TensorBoardLog).

    python3 -m venv VENV && VENV/bin/pip install tensorboard
    peftkit train ... --output RUN --report-to tensorboard
    VENV/bin/python Scripts/check-tensorboard.py RUN

Tags: eval_x -> eval/x, retain_x -> retain/x, anything else -> train/x. Exits 1 on any difference.
"""
import json
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def tag(name):
    for prefix in ("eval", "retain"):
        if name.startswith(prefix + "_"):
            return prefix + "/" + name[len(prefix) + 1:]
    return "train/" + name


def main(run):
    run = Path(run)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    accumulator.Reload()
    board = {name: {event.step: event.value for event in accumulator.Scalars(name)} for name in accumulator.Tags()["scalars"]}
    expected, problems = 0, []
    for row in rows:
        step = int(row["step"])
        for name, value in row.items():
            if name in ("step", "epoch") or not math.isfinite(value):
                continue
            expected += 1
            seen = board.get(tag(name), {}).get(step)
            if seen is None:
                problems.append(f"step {step}: {tag(name)} missing")
            elif abs(seen - value) > 1e-6 * max(1.0, abs(value)):
                problems.append(f"step {step}: {tag(name)} = {seen}, metrics.jsonl {value}")
    logged = sum(len(values) for values in board.values())
    if logged != expected:
        problems.append(f"{logged} scalars in the event files, {expected} in metrics.jsonl")
    for problem in problems:
        print(problem)
    print(f"{expected} scalars of {len(rows)} rows compared with TensorBoard's EventAccumulator: "
          + ("all equal" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
