"""Views and API endpoints read through selectors: no querysets built inline (STYLE.md)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIN = [
    "characters/views.py",
    "characters/api.py",
    "generation/views.py",
    "generation/api.py",
    "datasets/views.py",
    "datasets/api.py",
    "training/views.py",
    "training/api.py",
]
QUERYSET_BUILDING = re.compile(
    r"\.objects\b|\.(filter|exclude|annotate|aggregate|select_related|prefetch_related|"
    r"order_by|values|values_list|only|defer)\("
)


@pytest.mark.parametrize("module", THIN)
def test_the_module_builds_no_queryset_inline(module):
    lines = (ROOT / module).read_text().splitlines()
    inline = [f"{module}:{n}: {line.strip()}" for n, line in enumerate(lines, 1)]
    inline = [line for line in inline if QUERYSET_BUILDING.search(line.split(": ", 1)[1])]
    assert not inline, "read through a selector instead:\n" + "\n".join(inline)
