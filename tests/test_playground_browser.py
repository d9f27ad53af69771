"""The playground page in a real headless Chromium (Debian's ``chromium`` on PATH; CI installs it).

The tests FAIL when chromium is missing: the page is the feature. Each starts the
server on 127.0.0.1 on a free port and stops it. Screenshots are written to
``$REGLAB_TEST_ARTIFACTS`` (else the test's tmp folder).
"""

import io
import os
import shutil
import zipfile
from pathlib import Path

import httpx
import pytest

from _polling import wait_for
from reglab.playground import FEATURES, Setting
from reglab.train import Trainer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EXERCISE = {"dataset": "xor", "noise": "40", "points": "160", "train-ratio": "30", "batch-size": "10",
            "features": ",".join(FEATURES), "hidden-layers": "", "learning-rate": "0.01", "seed": "0",
            "regularization": "l2"}


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not on PATH: install it (apt-get install -y chromium); the playground's "
                    "browser tests need it and do not skip")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(tmp_path):
    folder = Path(os.environ.get("REGLAB_TEST_ARTIFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser, url, query=""):
    context = browser.new_context(viewport={"width": 1500, "height": 940}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/{query}")
    page.wait_for_function("window.reglabPlayground && window.reglabPlayground.session", timeout=20_000)
    return page, errors


def number(page, testid) -> float:
    return float(page.inner_text(f"[data-testid={testid}]").replace("%", "").strip())


def epoch(page) -> int:
    return int(page.inner_text("[data-testid=epoch]"))


def test_train_xor_with_l2_then_switch_to_l1_prox_without_a_reset(browser, server, artifacts):
    page, errors = open_page(browser, server)
    page.select_option("[data-testid=dataset]", "xor")
    page.select_option("[data-testid=regularization]", "l2")
    page.select_option("[data-testid=rate]", "0.3")
    page.wait_for_function("new URLSearchParams(location.search).get('rate') === '0.3'")
    assert "dataset=xor" in page.url and "regularization=l2" in page.url
    page.click("[data-testid=train-button]")
    page.wait_for_function("+document.querySelector('[data-testid=epoch]').textContent >= 5", timeout=20_000)
    first_loss = page.inner_text("[data-testid=test-loss]")
    page.wait_for_function(f"+document.querySelector('[data-testid=epoch]').textContent >= 40 && "
                           f"document.querySelector('[data-testid=test-loss]').textContent !== '{first_loss}'",
                           timeout=30_000)
    assert number(page, "sparsity") == 0.0
    assert number(page, "penalty") > 0.0  # L2's penalty, shown beside the data loss
    before = epoch(page)
    page.select_option("[data-testid=regularization]", "l1-prox")
    page.wait_for_function("parseFloat(document.querySelector('[data-testid=sparsity]').textContent) > 0",
                           timeout=30_000)
    page.wait_for_function(f"+document.querySelector('[data-testid=epoch]').textContent > {before + 20}",
                           timeout=30_000)
    state = page.evaluate("({first: window.reglabPlayground.history[0].epoch, n: window.reglabPlayground.history.length,"
                          " last: window.reglabPlayground.history.at(-1).epoch, marks: window.reglabPlayground.marks})")
    assert state["first"] == 1 and state["last"] == state["n"]  # one run, counted on: no reset
    assert len(state["marks"]) == 1 and state["marks"][0]["label"] == "L2 0.3 → L1-prox 0.3"
    assert before <= state["marks"][0]["epoch"] <= before + 30
    assert "regularization=l1-prox" in page.url
    page.click("[data-testid=train-button]")  # pause
    page.wait_for_function("document.querySelector('[data-testid=train-button]').dataset.running === 'false'")
    page.wait_for_timeout(400)  # the last snapshot drawn: the network stops changing
    hit = page.locator("[data-testid=weights] line.hit").nth(5)
    hit.hover(force=True)  # where lines cross, the top one answers
    shown = page.inner_text("[data-testid=weight-hover]")
    assert " → " in shown and " w = " in shown
    float(shown.rpartition("w = ")[2])  # the weight's value
    assert "effective parameters" in page.inner_text("[data-testid=spectrum]")
    with page.expect_download() as download:
        page.click("[data-testid=export]")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert "l1_prox" in archive.read("config.toml").decode() and "checkpoint.pt" in archive.namelist()
    page.screenshot(path=str(artifacts / "playground-l1-prox.png"), full_page=True)
    assert errors == []
    page.context.close()


def test_the_notes_exercise_rate_0_has_larger_weights_and_a_larger_gap_than_rate_0_3(browser, server, artifacts):
    tabs = {}
    for rate in ("0", "0.3"):
        query = "?" + "&".join(f"{k}={v}" for k, v in {**EXERCISE, "rate": rate}.items())
        tabs[rate] = open_page(browser, server, query)
    sessions = {page.evaluate("window.reglabPlayground.session") for page, _ in tabs.values()}
    assert len(sessions) == 2  # one session per tab, training independently
    for page, _ in tabs.values():
        page.click("[data-testid=train-button]")
    shown = {}
    for rate, (page, errors) in tabs.items():
        page.wait_for_function("+document.querySelector('[data-testid=epoch]').textContent >= 500", timeout=45_000)
        page.click("[data-testid=train-button]")  # pause; the button says so once the server has answered
        page.wait_for_function("document.querySelector('[data-testid=train-button]').dataset.running === 'false'")
        sid = page.evaluate("window.reglabPlayground.session")
        status = httpx.get(f"{server}/api/sessions/{sid}").json()
        assert status["running"] is False
        page.wait_for_function(f"+document.querySelector('[data-testid=epoch]').textContent === {status['epoch']}")
        shown[rate] = {"epoch": epoch(page), "weight_norm": number(page, "weight-norm"), "gap": number(page, "gap"),
                       "train_loss": number(page, "train-loss"), "test_loss": number(page, "test-loss")}
        assert errors == []
    # the exercise's answer: at rate 0 the weights are larger and so is the train-test gap
    assert shown["0"]["weight_norm"] > shown["0.3"]["weight_norm"]
    assert shown["0"]["gap"] > shown["0.3"]["gap"]
    # and the page shows what the trainer computes for the same setting and number of epochs
    for rate, seen in shown.items():
        trainer = Trainer(Setting.from_query({**EXERCISE, "rate": rate}).run_config())
        for _ in range(seen["epoch"]):
            final = trainer.run_epoch().metrics
        assert seen["weight_norm"] == pytest.approx(final["weight_norm"], abs=6e-4)
        assert seen["test_loss"] == pytest.approx(final["test_loss"], abs=6e-4)
        assert seen["gap"] == pytest.approx(final["test_loss"] - final["train_loss"], abs=1.2e-3)
    tabs["0"][0].screenshot(path=str(artifacts / "playground-exercise-rate0.png"), full_page=True)
    tabs["0.3"][0].screenshot(path=str(artifacts / "playground-exercise-rate0.3.png"), full_page=True)
    for page, _ in tabs.values():
        sid = page.evaluate("window.reglabPlayground.session")
        page.context.close()  # closing the tab ends its session (and so its training)
        assert wait_for(lambda: httpx.get(f"{server}/api/sessions/{sid}").status_code == 404)


def test_a_bad_value_in_the_link_is_named_and_the_page_starts_anyway(browser, server):
    page, errors = open_page(browser, server, "?dataset=spiral&rate=99")
    page.wait_for_selector("[data-testid=error]:not([hidden])")
    assert "rate" in page.inner_text("[data-testid=error]")
    assert page.get_attribute("[data-testid=error]", "data-field") == "rate"
    assert page.input_value("[data-testid=dataset]") == "spiral"
    page.wait_for_function("location.search.includes('rate=0')")  # the URL is rewritten after the answer
    hidden = page.input_value("[data-testid=hidden-layers]")
    page.fill("[data-testid=hidden-layers]", "4,99")
    page.press("[data-testid=hidden-layers]", "Enter")
    page.wait_for_function("document.querySelector('[data-testid=error]').dataset.field === 'hidden-layers'")
    page.wait_for_function(f"document.querySelector('[data-testid=hidden-layers]').value === '{hidden}'")
    assert "16 units" in page.inner_text("[data-testid=error]")  # says what is allowed
    # the browser logs the server's 422 answers as failed resources; nothing else may appear
    for _ in range(50):  # console messages can arrive after the DOM update; playwright delivers them while it waits
        if len(errors) >= 2:
            break
        page.wait_for_timeout(100)
    assert [e for e in errors if "status of 422" not in e] == [] and len(errors) == 2
    page.context.close()
