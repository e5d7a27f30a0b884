"""Benchmark: the web UI from clicking 'Run analysis' to the viewer drawn, on ct_small.

Starts ``boa ui`` on loopback (a real ``streamlit run``), drives Debian's headless
Chromium with Selenium, uploads ``../shared/data/ts-example/ct_small.nii.gz``
with its ``seg_total.nii.gz`` supplied (no weights needed) and prints where the
time goes: worker start (process and imports), analyze() itself, and the page
until the viewer has loaded both volumes. Repeats ``--runs`` times.

    python benchmarks/bench_ui.py [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "ts-example"


def utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def one_run(driver, url: str, results: Path) -> dict[str, float]:
    from tests.ui.browser import click_text, page_text, wait_for

    driver.get(url)
    wait_for(lambda: "Run analysis" in page_text(driver), 60)
    driver.find_elements("css selector", "input[type=file]")[0].send_keys(str(DATA / "ct_small.nii.gz"))
    wait_for(lambda: "ct_small.nii.gz" in page_text(driver), 30)
    click_text(driver, "details summary", "Supply label maps (skip running those models)")
    wait_for(lambda: len(driver.find_elements("css selector", "input[type=file]")) > 1, 30)
    driver.find_elements("css selector", "input[type=file]")[1].send_keys(str(DATA / "seg_total.nii.gz"))
    wait_for(lambda: "seg_total.nii.gz" in page_text(driver), 30)
    before = set((results / "runs").glob("*")) if (results / "runs").exists() else set()
    click_text(driver, "button", "Run analysis")
    clicked = time.time()
    frame = wait_for(lambda: driver.find_elements("css selector", "iframe[title*=boa_viewer]"), 300, 0.05)[0]
    appeared = time.time()
    driver.switch_to.frame(frame)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === '1'"), 120, 0.05)
    drawn = time.time()
    driver.switch_to.default_content()
    run = next(iter(set((results / "runs").glob("*")) - before))
    status = json.loads((run / "status.json").read_text())
    manifest = json.loads((run / "output" / "manifest.json").read_text())
    started, finished = utc(status["started_utc"]), utc(status["finished_utc"])
    return {
        "click -> viewer drawn": drawn - clicked,
        "click -> worker running (process start, imports)": started - clicked,
        "worker: analyze() and viewer copy": finished - started,
        "  of which analyze() steps (sum)": sum(manifest["timings_s"].values()),
        "  of which contrast phase": manifest["timings_s"].get("contrast", 0.0),
        "worker done -> result page (poll, rerun, page)": appeared - finished,
        "viewer frame -> drawn (NiiVue, WebGL, volumes)": drawn - appeared,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.ui.browser import app_server, make_driver

    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        results.mkdir()
        with app_server(results) as url:
            driver = make_driver(Path(tmp))
            try:
                figures = [one_run(driver, url, results) for _ in range(args.runs)]
            finally:
                driver.quit()
    for name in figures[0]:
        values = [f[name] for f in figures]
        print(f"{name:52s} " + "  ".join(f"{v:6.1f} s" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
