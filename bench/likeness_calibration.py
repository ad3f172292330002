"""The face measure's calibration table: same-person pairs across framing, mirror, grey,
rotation and scale, and different-person pairs, on real photos that ship in packages.

    .venv/bin/python bench/likeness_calibration.py

Prints the markdown tables of docs/likeness.md. No database: only the measure runs.
"""

import itertools
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from characters.likeness import calibration  # noqa: E402
from characters.likeness.base import distance  # noqa: E402
from characters.likeness.face import FaceMeasure  # noqa: E402


def main() -> None:
    measure = FaceMeasure()
    readings = {}  # (person, change) -> Reading
    for person in calibration.PEOPLE:
        original = calibration.photo(person)
        readings[(person, "original")] = measure.describe(original)
        for change, apply in calibration.changes(person).items():
            readings[(person, change)] = measure.describe(apply(original))
        readings[(person, "tiny (face ~40 px)")] = measure.describe(calibration.tiny(person))
    readings[("coffee", "original")] = measure.describe(calibration.photo("coffee"))

    print("### Same person: distance from the original photo\n")
    print("| change | " + " | ".join(calibration.PEOPLE) + " |")
    print("|---|" + "---|" * len(calibration.PEOPLE))
    changes = ["original", *calibration.changes("astronaut"), "tiny (face ~40 px)"]
    same = []
    for change in changes:
        cells = []
        for person in calibration.PEOPLE:
            reading, base = readings[(person, change)], readings[(person, "original")]
            if reading.vector is None:
                cells.append(
                    f"{reading.flag} ({reading.face_px} px)" if reading.face_px else reading.flag
                )
                continue
            value = distance(reading.vector, base.vector)
            if change != "original":
                same.append(value)
            cells.append(f"{value:.3f} ({reading.face_px} px)")
        print(f"| {change} | " + " | ".join(cells) + " |")

    print("\n### Different people: every measured version of one against every one of another\n")
    print("| pair | pairs | min | median | max |")
    print("|---|---|---|---|---|")
    other = []
    for a, b in itertools.combinations(calibration.PEOPLE, 2):
        values = [
            distance(ra.vector, rb.vector)
            for (pa, _), ra in readings.items()
            for (pb, _), rb in readings.items()
            if pa == a and pb == b and ra.vector is not None and rb.vector is not None
        ]
        other += values
        print(
            f"| {a} – {b} | {len(values)} | {min(values):.3f} | "
            f"{statistics.median(values):.3f} | {max(values):.3f} |"
        )
    print(
        f"\nSame person: {len(same)} pairs, max {max(same):.3f}, median "
        f"{statistics.median(same):.3f}. Different people: {len(other)} pairs, min "
        f"{min(other):.3f}. Thresholds: drift above {FaceMeasure.drift}, other person above "
        f"{FaceMeasure.other}. Coffee cup: {readings[('coffee', 'original')].flag}."
    )


if __name__ == "__main__":
    main()
