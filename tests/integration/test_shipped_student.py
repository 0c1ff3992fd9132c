"""What `make serve` serves on a fresh machine: the shipped adapter on the prepared base, prompted as trained."""

import json

import httpx
import numpy as np
import pytest

from tests.integration.conftest import ROOT, SMOLLM2_DIR

pytestmark = pytest.mark.integration
SHIPPED = ROOT / "models" / "adapters" / "smollm2-135m"


@pytest.fixture(scope="module")
def student(start_server):
    if not (SHIPPED / "adapter_config.json").exists():
        pytest.skip("no shipped adapter yet (make train ships one)")
    return start_server(TSD_PRESET="smollm2-135m", TSD_MODEL=str(SMOLLM2_DIR), TSD_ADAPTER=str(SHIPPED))


def test_shipped_adapter_is_small_and_has_a_manifest():
    if not SHIPPED.exists():
        pytest.skip("no shipped adapter yet")
    size = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert size <= 20 * 1024 * 1024
    manifest = json.loads((SHIPPED / "tsdescribe.json").read_text())
    assert {"base", "prompt_style", "data_hash", "config", "metrics", "git"} <= set(manifest)


def test_student_states_the_right_facts_on_clear_series(student):
    info = httpx.get(f"{student.url}/info").json()
    assert info["model"]["student"]["prompt_style"] == info["settings"]["prompt_style"]
    assert info["backend"]["adapter_mode"] == "merged"  # the CPU engine serves the adapter folded into the base
    t = np.linspace(0, 1, 300)
    rng = np.random.default_rng(5)
    cases = [2 + 5 * t + 0.05 * rng.normal(size=t.size), 40 - 9 * t**2 + 0.1 * rng.normal(size=t.size)]
    for values in cases:
        r = httpx.post(f"{student.url}/describe", json={"series": values.tolist(), "repair": False}, timeout=120)
        assert r.status_code == 200, r.text
        checks = r.json()["checks"]
        assert checks["trend"]["agrees"] and checks["max"]["agrees"] and checks["min"]["agrees"], checks


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser():
    from pathlib import Path

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), "Debian's chromium and chromium-driver are needed " \
        "(`make browser` installs them; `make test` runs it)"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_web_page_describes_a_series_and_shows_the_api_message_for_bad_input(student, browser):
    import os

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 120)
    browser.get(f"{student.url}/")
    wait.until(lambda d: "adapter" in d.find_element(By.ID, "model").text)
    assert "no adapter" not in browser.find_element(By.ID, "model").text
    Select(browser.find_element(By.ID, "example")).select_by_value("bump")
    browser.find_element(By.ID, "use-example").click()
    browser.find_element(By.ID, "describe").click()
    wait.until(ready.presence_of_element_located((By.ID, "check-min")))
    for name in ("trend", "noise", "extrema"):
        assert len(browser.find_element(By.ID, f"sentence-{name}").text) > 20
    assert browser.find_element(By.ID, "max-marker") and browser.find_element(By.ID, "min-marker")
    verdicts = [browser.find_element(By.ID, f"check-{f}").find_elements(By.TAG_NAME, "td")[3].text
                for f in ("trend", "noise", "max", "min")]
    assert set(verdicts) <= {"agrees", "contradicts"} and len(verdicts) == 4
    if os.environ.get("TSD_SCREENSHOT_DIR"):
        browser.save_screenshot(os.path.join(os.environ["TSD_SCREENSHOT_DIR"], "web-page.png"))

    box = browser.find_element(By.ID, "values")
    box.clear()
    box.send_keys("1, 2, 3")
    browser.find_element(By.ID, "describe").click()
    wait.until(lambda d: d.find_element(By.ID, "error").text)
    assert browser.find_element(By.ID, "error").text == "series has 3 values; send at least 8"
    if os.environ.get("TSD_SCREENSHOT_DIR"):
        browser.save_screenshot(os.path.join(os.environ["TSD_SCREENSHOT_DIR"], "web-page-error.png"))
    box.clear()
    box.send_keys("1, 2, 3, 4, abc, 6, 7, 8, 9")
    browser.find_element(By.ID, "describe").click()
    wait.until(lambda d: "series[4]" in d.find_element(By.ID, "error").text)
    assert "must be a number or null" in browser.find_element(By.ID, "error").text


def test_web_page_draws_the_period_the_outlier_and_the_level_shift_the_rules_found(student, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    t = np.arange(240)
    values = np.round(2 * np.sin(2 * np.pi * t / 24) + 12 * (t >= 150) + np.random.default_rng(1).normal(0, 0.1, 240), 3)
    values[60] += 10  # a season of 24 points, one outlier at 60, a step up at 150
    wait = WebDriverWait(browser, 120)
    browser.get(f"{student.url}/")
    wait.until(lambda d: "adapter" in d.find_element(By.ID, "model").text)
    box = browser.find_element(By.ID, "values")
    box.clear()
    browser.execute_script("arguments[0].value = arguments[1]", box, ", ".join(map(str, values)))
    browser.find_element(By.ID, "describe").click()
    wait.until(ready.presence_of_element_located((By.ID, "shift-marker")))

    def title(element_id):
        return browser.find_element(By.ID, element_id).find_element(By.TAG_NAME, "title").get_attribute("textContent")

    assert title("period-marker") == "one period: 24 points"
    assert title("outlier-marker-0").startswith("outlier at index 60:")
    assert len(browser.find_elements(By.CLASS_NAME, "outlier-marker")) == 1
    assert title("shift-marker").startswith("level shift up by 12.") and title("shift-marker").endswith("at index 150")
    assert "seasonal, period 24 points" in browser.find_element(By.ID, "rules").text
    # the period's bracket spans 24 of the 240 points: a tenth of the plot's width
    chart, period = (browser.find_element(By.ID, element_id).rect for element_id in ("chart", "period-marker"))
    assert abs(period["width"] / (chart["width"] * (800 - 32) / 800) - 24 / 239) < 0.02


def test_web_page_reads_headerless_and_quoted_csv_and_a_100k_point_paste(student, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 180)
    browser.get(f"{student.url}/")
    wait.until(lambda d: "adapter" in d.find_element(By.ID, "model").text)

    def describe_and_wait():
        browser.execute_script("document.getElementById('checks').hidden = true; "
                               "document.getElementById('error').textContent = ''")
        browser.find_element(By.ID, "describe").click()
        wait.until(lambda d: d.find_element(By.ID, "checks").is_displayed() or d.find_element(By.ID, "error").text)
        assert browser.find_element(By.ID, "error").text == ""
        return browser.find_element(By.ID, "sent-info").text

    headerless = tmp_path / "headerless.csv"
    headerless.write_text("\n".join(f"{i},{(i * 7) % 13 + i / 5:.3f}" for i in range(40)))
    browser.find_element(By.ID, "csv").send_keys(str(headerless))
    wait.until(lambda d: d.find_element(By.ID, "column").is_displayed())
    Select(browser.find_element(By.ID, "column")).select_by_value("1")
    assert describe_and_wait() == "40 points"  # the first row is data, not a header

    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"day","note","price"\n' + "\n".join(f'"{i}","a, b","{100 + (i % 9) * 1.5}"' for i in range(30)))
    browser.find_element(By.ID, "csv").clear()
    browser.find_element(By.ID, "csv").send_keys(str(quoted))
    wait.until(lambda d: [o.text for o in Select(d.find_element(By.ID, "column")).options] == ["day", "note", "price"])
    Select(browser.find_element(By.ID, "column")).select_by_visible_text("price")
    assert describe_and_wait() == "30 points"

    pasted = ", ".join(f"{(i % 1000) / 10:.1f}" for i in range(100_000))
    browser.execute_script("const box = document.getElementById('values'); box.value = arguments[0]; "
                           "box.dispatchEvent(new Event('input'))", pasted)
    assert describe_and_wait() == "100000 points"
    assert browser.find_element(By.ID, "max-marker") and browser.find_element(By.ID, "min-marker")
