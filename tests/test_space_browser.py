"""The Space in a real browser: `python -m sherlock.space` served on 127.0.0.1 and driven by Playwright in headless
Chromium (Debian's `chromium`, through `executable_path`: nothing is downloaded).

The model is a tiny random Sherlock whose saved generation config makes it say one known event
(`forced_answer.save_forced_answer`), so the events table and the timeline have something to show: the browser
checks the UI's plumbing, not the model's quality. `make test` sets `SHERLOCK_REQUIRE_BROWSER=1`: there a missing
Chromium or Playwright is a failure, not a skip.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from forced_answer import FORCED_EVENT, save_forced_answer
from video_factory import make_text_as_mp4, write_video


REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SHERLOCK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def _require_browser():
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (test extra)")
    if CHROMIUM is None:
        missing.append("a Chromium executable (`apt-get install chromium`, or SHERLOCK_CHROMIUM)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("SHERLOCK_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """The Space served on a free port with a tiny model that answers FORCED_EVENT; yields its URL."""
    _require_browser()
    from processing import SherlockProcessor
    from sherlock.tiny_extractors import build_tiny_extractor_models, tiny_extractor_settings
    from sherlock.tiny_models import build_tiny_sherlock

    root = tmp_path_factory.mktemp("space")
    paths = build_tiny_extractor_models(str(root / "extractor_models"))
    model = build_tiny_sherlock(root / "model", extractors=tiny_extractor_settings(paths, threshold=0.15))
    save_forced_answer(model, SherlockProcessor.from_pretrained(model).tokenizer)
    yield from _serve(root, {"SHERLOCK_MODEL": str(model)})


@pytest.fixture(scope="module")
def demo_space(tmp_path_factory):
    """The Space with its default model, the trained demo model (no SHERLOCK_MODEL); yields its URL."""
    _require_browser()
    yield from _serve(tmp_path_factory.mktemp("demo-space"), {})


def _serve(root: Path, settings: dict):
    """Serve `python -m sherlock.space` on a free port with the environment `settings`; yields its URL, process and
    log, and stops it at the end."""
    port = _free_port()
    env = {
        **{key: value for key, value in os.environ.items() if key != "SHERLOCK_MODEL"},
        **settings,
        "PYTHONPATH": str(REPO),
        "SHERLOCK_HOME": str(root / "home"),
        "SHERLOCK_SPACE_CONCURRENCY": "2",
        "SHERLOCK_SPACE_MAX_DURATION_S": "30",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    log = open(root / "space.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "sherlock.space", "--port", str(port)], cwd=root, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the Space did not start:\n" + (root / "space.log").read_text()[-3000:])
            time.sleep(0.3)
    yield {"url": url, "process": process, "log": root / "space.log"}
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser(space):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uploads")
    return {
        "good": write_video(folder / "street.mp4", num_frames=32, fps=8.0, size=(96, 64)),
        "text": make_text_as_mp4(folder / "text.mp4"),
    }


def _analyze(page, url: str, video) -> None:
    page.goto(url)
    page.wait_for_selector("#analyze")
    page.locator("#video-input input[type=file]").set_input_files(str(video))
    page.wait_for_function("document.querySelector('#video-input').innerText.includes('.mp4')", timeout=30_000)
    page.click("#analyze")


def _wait_for_events(page, timeout=120_000) -> None:
    page.wait_for_function(
        f"document.querySelector('#events').innerText.includes({FORCED_EVENT['event_type']!r})", timeout=timeout
    )


def test_an_uploaded_video_fills_the_table_the_timeline_the_gates_and_the_download(space, browser, videos):
    page = browser.new_page()
    _analyze(page, space["url"], videos["good"])
    _wait_for_events(page)
    table = page.locator("#events").inner_text()
    for value in ("people", "Fighting", "none", "Street"):
        assert value in table
    assert page.locator("#summary").inner_text().startswith("1 abnormal event(s) in 4.0 s")
    assert page.locator("#timeline img, #timeline svg, #timeline canvas").count() >= 1
    gates = page.locator("#gates").inner_text()
    assert all(name in gates for name in ("action", "object_relation", "background", "global"))
    assert page.locator("#answer textarea").input_value() == "1.0-3.0s: (people, Fighting, none, Street)"
    assert page.locator("#playback video").count() == 1 and page.locator("#playback track").count() == 1
    link = page.locator("#download a").first.get_attribute("href")  # the JSON download, as the browser gets it
    record = json.loads(urllib.request.urlopen(urllib.parse.urljoin(space["url"], link), timeout=10).read())
    assert [{k: v for k, v in event.items() if k != "score"} for event in record["events"]] == [FORCED_EVENT]
    assert record["video"] == "street.mp4" and set(record["gate_weights"]) == {
        "action",
        "object_relation",
        "background",
        "global",
    }
    page.close()


def test_a_text_file_renamed_mp4_gives_one_clear_message_and_the_app_keeps_serving(space, browser, videos):
    page = browser.new_page()
    _analyze(page, space["url"], videos["text"])
    message = "This file cannot be analysed: not a video: the file contains text."
    page.wait_for_function(f"document.body.innerText.includes({message!r})", timeout=60_000)
    assert page.locator("body").inner_text().count("cannot be analysed") == 1
    assert "Fighting" not in page.locator("#events").inner_text()
    page.close()
    assert space["process"].poll() is None
    page = browser.new_page()  # the next user is served
    _analyze(page, space["url"], videos["good"])
    _wait_for_events(page)
    page.close()


def test_two_browser_sessions_at_once_both_get_their_answers(space, browser, videos):
    pages = [browser.new_context().new_page() for _ in range(2)]
    for page in pages:
        _analyze(page, space["url"], videos["good"])
    for page in pages:
        _wait_for_events(page)
        assert "Fighting" in page.locator("#events").inner_text()
    for page in pages:
        page.context.close()


def test_the_spaces_bundled_example_is_the_repositorys_demo_video():
    assert (REPO / "spaces_demo" / "examples" / "demo.mp4").read_bytes() == (
        REPO / "examples" / "demo.mp4"
    ).read_bytes()


def test_the_demo_model_names_the_example_videos_real_event(demo_space, browser):
    """With no model configured the Space runs the trained demo model: the example video's real event
    (`examples/demo.json`, the renderer's annotation) appears in the events table, named."""
    (event,) = json.loads((REPO / "examples" / "demo.json").read_text())["events"]
    page = browser.new_page()
    _analyze(page, demo_space["url"], REPO / "examples" / "demo.mp4")
    page.wait_for_function(
        f"document.querySelector('#events').innerText.includes({event['event_type']!r})", timeout=120_000
    )
    table = page.locator("#events").inner_text()
    assert event["subject"] in table
    assert "trained on synthetic videos only" in page.locator("body").inner_text()
