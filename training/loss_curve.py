"""The loss curve of a training as an SVG drawn on the server: a polyline in a fixed box."""

from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 600, 180, 28


@dataclass(frozen=True)
class LossCurve:
    points: str  # "x,y x,y ..." for <polyline points>
    first: tuple[int, float]
    last: tuple[int, float]
    low: float
    high: float
    steps: int
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD

    @property
    def baseline(self) -> int:
        return self.height - self.pad

    @property
    def right(self) -> int:
        return self.width - self.pad


def loss_curve(points: list[tuple[int, float]], *, steps: int) -> LossCurve | None:
    """The curve of (step, loss) points over a run of `steps`; None below two points."""
    if len(points) < 2:
        return None
    low = min(loss for _, loss in points)
    high = max(loss for _, loss in points)
    span = (high - low) or 1.0
    last_step = max(steps, points[-1][0]) or 1

    def x(step: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * step / last_step

    def y(loss: float) -> float:
        return PAD + (HEIGHT - 2 * PAD) * (high - loss) / span

    return LossCurve(
        points=" ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points),
        first=points[0],
        last=points[-1],
        low=low,
        high=high,
        steps=last_step,
    )
