"""``report.html`` in a real browser: headless Chromium (Debian's package, installed by the
test set-up) opens it from the file system, with every network request refused; the test
filters the problems, clicks through to one, checks what is shown, and saves a screenshot."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from ponder.core.types import GenerationRequest
from ponder.eval import evaluate
from ponder.tasks import make_task
from ponder.testing import FunctionBackend

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def model(request: GenerationRequest, index: int) -> str:
    """Right, except sampled replies to questions with an odd first number."""
    assert request.messages is not None
    a, b = map(int, re.findall(r"\d+", request.messages[-1].content)[:2])
    wrong = request.params.temperature > 0 and a % 2 == 1 and index % 2 == 0
    return f"Adding them: {a} + {b}. The answer is {a + b + (1 if wrong else 0)}."


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    questions = out / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"question": f"What is {i} + {i + 1}?", "answer": 2 * i + 1}) + "\n"
            for i in range(6)
        )
    )
    evaluate(
        [make_task(str(questions))],
        ["greedy", "self_consistency:n=1|3"],
        backend=FunctionBackend(model),
        out=out,
    )
    return out / "report.html"


def test_the_report_is_one_file_without_network(report: Path) -> None:
    page = report.read_text()
    assert "data:image/png;base64," in page  # the plots are inside
    assert not re.search(r"""(src|href)=["']https?://""", page)


def test_a_browser_opens_it_and_clicks_through_to_a_problem(report: Path) -> None:
    assert CHROMIUM, "Chromium is missing: `bash scripts/setup.sh test` installs Debian's package"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1600})
            page.on("request", lambda r: requests.append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri())
            assert page.locator("table.results").count() == 1  # one task
            assert "self_consistency:n=3" in page.locator("table.results").inner_text()
            assert page.locator("img").count() >= 1
            assert page.locator("#list tbody tr").count() == 6 * 2  # 2 run settings x 6
            page.select_option("#f-setting", "self_consistency:n=3")
            page.select_option("#f-outcome", "wrong")
            rows = page.locator("#list tbody tr")
            assert rows.count() == 3  # odd first numbers: 2 of 3 samples wrong
            rows.first.click()
            problem = page.locator("#problem")
            assert problem.is_visible()
            assert "self_consistency:n=3" in page.locator("#problem-title").inner_text()
            question = page.locator("#question").inner_text()
            first = int(re.findall(r"\d+", question)[0])
            assert first % 2 == 1
            assert page.locator("#reference").inner_text() == str(2 * first + 1)
            assert page.locator("#candidates tr").count() == 1 + 3  # header and 3 candidates
            assert "wrong" in page.locator("#candidates").inner_text()
            page.screenshot(path=str(report.parent / "report.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
    assert (report.parent / "report.png").stat().st_size > 10_000
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
