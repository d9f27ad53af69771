"""The HTML report opened in a real headless Chromium: no console errors, every figure loads."""

import shutil

import pytest

from reglab.experiments import run_experiment
from reglab.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    run_experiment("mnist-weight-decay", out, quick=True)
    return build_report(out)


def test_report_opens_in_chromium_without_console_errors(report, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        errors = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        assert errors == []
        assert "Weight decay on MNIST" in page.inner_text("h2")
        images = page.query_selector_all("figure img")
        assert images, "the report shows no figure"
        for img in images:
            assert img.evaluate("el => el.complete && el.naturalWidth > 100")
        assert page.query_selector("table") is not None
        assert "confirmed" in page.inner_text(".reading") or "not confirmed" in page.inner_text(".reading")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_without_experiments_says_so(tmp_path):
    path = build_report(tmp_path)
    assert "No experiments found" in path.read_text()
