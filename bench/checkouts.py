"""Another checkout's code beside this one, for a benchmark's before and after, and the
machine's load to read the figures against."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The venv holds this checkout as an editable install, whose import hook would hand another
# checkout's code a module it lacks from this one: the app is imported from sys.path only.
# For a Celery process of that code: `python -c CELERY_FROM_PATH -A lorastudio worker ...`.
CELERY_FROM_PATH = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in repr(f)]; "
    "sys.argv[0] = 'celery'; from celery.__main__ import main; main()"
)


def export(ref: str, folder: str | Path) -> Path:
    """`ref`'s files (git archive) extracted into `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return Path(folder)


def use_code_from(code: Path) -> None:
    """Import the app from `code` in this process: first on sys.path, the working directory
    (Celery puts it first on sys.path too), and never from this checkout's editable install."""
    sys.path.insert(0, str(code))
    os.chdir(code)
    sys.meta_path[:] = [finder for finder in sys.meta_path if "Editable" not in repr(finder)]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
