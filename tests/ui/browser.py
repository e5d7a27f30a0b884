"""Test helpers: the app as a real ``streamlit run`` process and headless Chromium (Debian's) via Selenium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--use-angle=swiftshader",
                  "--enable-unsafe-swiftshader", "--window-size=1500,1300")  # fmt: skip


def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(results_dir: Path, extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
               host: str = "127.0.0.1") -> Iterator[str]:  # fmt: skip
    """``boa ui`` in its own session on loopback; stopped by its process group id."""
    port = free_port()
    log = open(results_dir.parent / f"streamlit-{port}.log", "w")
    environment = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "body_organ_analysis", "ui", "--host", host, "--port", str(port),
         "--results-dir", str(results_dir), *extra_args],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=environment,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with {process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def make_driver(download_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})  # fmt: skip
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(60)
    return driver


def wait_for(condition, timeout: float = 60.0, interval: float = 0.25, what: str = "condition"):
    """Poll ``condition()`` until it returns something truthy (ignoring Selenium's transient errors)."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.time() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException:
            pass
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_until_idle(driver, timeout: float = 60.0) -> None:
    """Wait until the app's script run has finished: a click during a rerun (after an upload,
    say) can be lost when the page is redrawn."""
    wait_for(lambda: driver.find_element("css selector", "[data-testid=stApp]")
             .get_attribute("data-test-script-state") == "notRunning", timeout, what="the app to be idle")  # fmt: skip


def page_text(driver) -> str:
    return driver.find_element("tag name", "body").text


def click_text(driver, selector: str, text: str) -> None:
    """Click the first element matching ``selector`` whose visible text is (or has a line that is) ``text``."""

    def attempt():
        for element in driver.find_elements("css selector", selector):
            if text in [line.strip() for line in element.text.split("\n")]:
                element.click()
                return True
        return False

    wait_for(attempt, 30, what=f"{selector} {text!r}")


def choose_option(driver, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""

    def open_box():
        for box in driver.find_elements("css selector", "[data-testid=stSelectbox]"):
            if box.text.split("\n")[0].strip() == label:
                field = box.find_element("css selector", "input")
                field.click()
                field.send_keys(option)  # filters a long (virtualised) list down to the option
                return True
        return False

    wait_for(open_box, 30, what=f"selectbox {label!r}")
    click_text(driver, "[role=option]", option)
