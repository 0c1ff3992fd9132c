"""The evaluation's port of the web page's example series draws exactly what the page draws (run in Node.js)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.facts import compute_features
from training.evaluate import PAGE_KINDS, page_example, page_examples_table

PAGE = Path(__file__).resolve().parents[2] / "service" / "static" / "index.html"


def page_function() -> str:
    html = PAGE.read_text()
    start = html.index("function examples(kind)")
    end = html.index("\n}\n", start) + 2
    return html[start:end]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not installed")
@pytest.mark.parametrize("kind", PAGE_KINDS)
def test_the_port_equals_the_pages_own_series(kind):
    script = page_function() + f"\nconsole.log(JSON.stringify(examples({json.dumps(kind)})));"
    drawn = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    assert page_example(kind) == drawn


def test_the_pages_kinds_are_the_ones_it_offers():
    offered = re.findall(r'<option value="(\w+)">', PAGE.read_text())
    assert set(PAGE_KINDS) <= set(offered)


def test_the_hump_is_flat_with_its_max_in_the_middle():
    features = compute_features(page_example("bump"))
    assert (features.trend, features.max) == ("flat", "middle")


def test_the_table_marks_a_wrong_field_with_the_rules_label():
    results = {"student": {"page_examples": {"page-bump": {
        "valid": True, "stated": {"trend": "decreasing", "noise": "medium", "max": "middle", "min": "beginning"},
        "computed": {"trend": "flat", "noise": "medium", "max": "middle", "min": "beginning"}}}}}
    row = page_examples_table(results).splitlines()[-1]
    assert "**decreasing** (flat)" in row and "| medium |" in row
