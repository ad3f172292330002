"""Where a training stands, read from the trainer's own log lines.

Trainers print progress in a few shapes; the last line that matches wins:
- tqdm bars (ostris ai-toolkit on Replicate, kohya):
  `flux_train_replicate:  25%|##5       | 250/1000 [02:10<06:30,  1.92it/s, lr: 4.0e-04]`
  (percent, step/total, and the time left after `<`);
- plain step lines (fal's trainer, the simulator): `Step 250/1000, loss 0.12`, `step 250 of 1000`;
- a bare percentage: `Training 42%`.

Where a line also carries the loss (`loss 0.12`, `loss: 3.6e-01`), `loss_points` reads the
curve from the same lines.
"""

import re
from dataclasses import dataclass

STEP = re.compile(r"\b(?:steps?\s*:?\s*)?(\d+)\s*(?:/|\bof\b)\s*(\d+)\b", re.IGNORECASE)
PERCENT = re.compile(r"(\d{1,3})(?:\.\d+)?\s*%")
TQDM_LEFT = re.compile(r"\[(?:[\d:]+)<((?:\d+:)?\d+:\d+)")
LOSS = re.compile(r"\bloss\b\s*[:=]?\s*(\d*\.?\d+(?:e[-+]?\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class Progress:
    percent: int | None = None
    step: int | None = None
    total: int | None = None
    seconds_left: int | None = None


def _seconds(clock: str) -> int:
    parts = [int(p) for p in clock.split(":")]
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def parse_line(line: str, *, total_steps: int | None = None) -> Progress | None:
    step_match = STEP.search(line)
    percent_match = PERCENT.search(line)
    if step_match:
        step, total = int(step_match[1]), int(step_match[2])
        if total == 0 or step > total:
            step_match = None
        elif total_steps and total != total_steps and not percent_match:
            # e.g. "image 3/12" while caching: not the training's steps
            step_match = None
    if not step_match and not percent_match:
        return None
    left = TQDM_LEFT.search(line)
    seconds_left = _seconds(left[1]) if left else None
    if step_match:
        step, total = int(step_match[1]), int(step_match[2])
        percent = int(percent_match[1]) if percent_match else int(100 * step / total)
        return Progress(min(percent, 100), step, total, seconds_left)
    return Progress(min(int(percent_match[1]), 100), None, None, seconds_left)


def parse_logs(logs: str, *, total_steps: int | None = None) -> Progress:
    """The progress the latest informative log line reports (nothing known: all None)."""
    for line in reversed(logs.splitlines()):
        found = parse_line(line, total_steps=total_steps)
        if found is not None:
            return found
    return Progress()


def loss_points(logs: str, *, total_steps: int | None = None) -> list[tuple[int, float]]:
    """(step, loss) from every line that gives both, in step order, one point per step."""
    points: dict[int, float] = {}
    for line in logs.splitlines():
        loss = LOSS.search(line)
        progress = parse_line(line, total_steps=total_steps) if loss else None
        if progress is not None and progress.step is not None:
            points[progress.step] = float(loss[1])
    return sorted(points.items())
