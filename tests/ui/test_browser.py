"""The web UI in a real browser: upload, run, viewer, voxel read-out, tables, zip, errors, password.

The app is a real ``streamlit run`` process on loopback and the browser is
Debian's headless Chromium (WebGL through SwiftShader). Screenshots are saved as
artifacts (see conftest). Every number is checked against the files themselves
(nibabel, the JSON outputs) or against what the command line says.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from tests.ui.browser import app_server, choose_option, click_text, make_driver, page_text, wait_for, wait_until_idle
from tests.ui.conftest import DATA, save_shot

pytestmark = [pytest.mark.usefixtures("browser_available"), pytest.mark.timeout(600)]

LIVER = 5  # TotalSegmentator v2 'total' id of the liver (seg_total.nii.gz's own label table says so too)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    results = tmp_path_factory.mktemp("ui-app") / "results"
    results.mkdir()
    with app_server(results) as url:
        yield url, results


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("ui-downloads")
    web = make_driver(downloads)
    web.download_dir = downloads
    yield web
    web.quit()


def upload(driver, index: int, path: Path) -> None:
    inputs = wait_for(lambda: (lambda found: found if len(found) > index else None)(
        driver.find_elements("css selector", "input[type=file]")), 30, what="file inputs")  # fmt: skip
    inputs[index].send_keys(str(path))
    wait_for(lambda: path.name in page_text(driver), 30, what=f"{path.name} uploaded")
    wait_until_idle(driver)


def start_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(lambda: "Run analysis" in page_text(driver), 60, what="the new-analysis page")


def test_upload_run_view_click_tables_zip(app, driver, artifacts):
    url, results = app
    start_page(driver, url)
    upload(driver, 0, DATA / "ct_small.nii.gz")
    click_text(driver, "details summary", "Supply label maps (skip running those models)")
    upload(driver, 1, DATA / "seg_total.nii.gz")
    save_shot(driver, artifacts, "01-new-analysis")
    click_text(driver, "button", "Run analysis")
    started = time.perf_counter()
    frame = wait_for(lambda: driver.find_elements("css selector", "iframe[title*=boa_viewer]"), 180,
                     what="the viewer")[0]  # fmt: skip
    driver.switch_to.frame(frame)
    wait_for(lambda: driver.execute_script("return document.body.dataset.ready === '1'"), 60, what="images loaded")
    seconds = time.perf_counter() - started
    print(f"\nclick Run -> viewer drawn: {seconds:.1f} s")
    (artifacts / "timing.txt").write_text(f"click Run -> viewer drawn (ct_small, supplied total map): {seconds:.1f} s\n")
    canvas = driver.find_element("id", "gl")
    time.sleep(1.0)
    pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("L"), dtype=float)
    assert pixels.std() > 20, "the viewer canvas is blank"

    # jump into the liver (the app's own 'jump to'), then click the liver voxel the test computes itself
    driver.switch_to.default_content()
    choose_option(driver, "jump to", "liver")
    labels = nib.load(str(DATA / "seg_total.nii.gz"))
    ct = nib.load(str(DATA / "ct_small.nii.gz"))
    liver = np.asarray(labels.dataobj) == LIVER
    depth_point = _deepest_voxel(liver)
    target_mm = (labels.affine @ np.array([*depth_point, 1.0]))[:3].tolist()
    driver.switch_to.frame(frame)
    position = wait_for(lambda: driver.execute_script(
        "return window.boaViewer.canvasPosOfMM(arguments[0], 0)", target_mm), 30, what="the liver on the axial tile")  # fmt: skip
    from selenium.webdriver.common.action_chains import ActionChains

    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, position[0] - size["width"] / 2, position[1] - size["height"] / 2).click().perform()  # fmt: skip
    wait_for(lambda: driver.find_element("id", "readout").get_attribute("data-structure") == "liver", 20,
             what="the viewer's own read-out")  # fmt: skip
    driver.switch_to.default_content()
    readout = wait_for(lambda: driver.find_elements("id", "voxel-readout"), 30, what="the server read-out")[0]
    index = tuple(int(v) for v in readout.get_attribute("data-index").split(","))
    assert readout.get_attribute("data-structure") == "liver"
    assert liver[index], "the clicked voxel is not inside the liver mask"
    assert float(readout.get_attribute("data-hu")) == float(np.asarray(ct.dataobj)[index])
    assert abs(np.array(index) - np.array(depth_point)).max() <= 1
    save_shot(driver, artifacts, "02-viewer-liver-click")

    # the organ table in the page equals structure-measurements.json of the run
    run_folder = next((results / "runs").iterdir())
    measurements = json.loads((run_folder / "output" / "structure-measurements.json").read_text())["total"]
    rows = _grid_rows(driver)
    present = {name for name, values in measurements.items() if values["present"]}
    assert {row[0] for row in rows} == present
    for name, volume, voxels, hu_mean, *_ in rows:
        assert float(volume) == pytest.approx(measurements[name]["volume_ml"], rel=1e-6)
        assert int(voxels) == measurements[name]["voxel_count"] == int(((np.asarray(labels.dataobj) == _id(labels, name))).sum()) \
            if name == "liver" else int(voxels) == measurements[name]["voxel_count"]  # fmt: skip
        assert float(hu_mean) == pytest.approx(measurements[name]["hu_mean"], rel=1e-6)
    _scroll_to_tabs(driver)
    save_shot(driver, artifacts, "03-organ-table")

    # one zip with every output file
    click_text(driver, "button[role=tab], [role=tab]", "Downloads")
    click_text(driver, "button", "Download all (zip)")
    archive = wait_for(lambda: next(iter(driver.download_dir.glob("*.zip")), None), 60, what="the zip download")
    wait_for(lambda: not list(driver.download_dir.glob("*.crdownload")), 30, what="the download to finish")
    with zipfile.ZipFile(archive) as opened:
        names = set(opened.namelist())
        assert names == {p.name for p in (run_folder / "output").iterdir() if p.is_file()}
        assert json.loads(opened.read("structure-measurements.json"))["total"]["liver"] == measurements["liver"]
    _scroll_to_tabs(driver)
    save_shot(driver, artifacts, "04-downloads")


def test_bad_uploads_show_the_cli_message(app, driver, artifacts, tmp_path):
    url, _ = app
    text = tmp_path / "notes.txt"
    text.write_text("this is not an image\n")
    volume = nib.load(str(DATA / "ct_small.nii.gz"))
    mr_like = tmp_path / "mr_like.nii.gz"  # MR-like: positive values only, no air near -1000
    nib.save(nib.Nifti1Image(((np.asarray(volume.dataobj) + 1024) * 1.5).astype(np.int16), volume.affine), mr_like)
    for name, path in (("05-error-text-file", text), ("06-error-mr-volume", mr_like)):
        expected = _cli_message(path, tmp_path)
        start_page(driver, url)
        upload(driver, 0, path)
        click_text(driver, "button", "Run analysis")
        alert = wait_for(lambda: [a for a in driver.find_elements("css selector", "[data-testid=stAlert]")
                                  if a.text.strip()], 120, what="the error")[0]  # fmt: skip
        shown = " ".join(alert.text.split())
        assert "Traceback" not in page_text(driver)
        assert _normalise_names(shown) == _normalise_names(expected), (shown, expected)
        save_shot(driver, artifacts, name)


def test_password_gate_refuses_a_wrong_password(tmp_path, artifacts):
    from body_organ_analysis.ui.password import hash_password

    results = tmp_path / "results"
    results.mkdir()
    env = {"BOA_UI_PASSWORD_HASH": hash_password("correct horse battery")}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with app_server(results, env=env) as url:
        web = make_driver(downloads)
        try:
            web.get(url)
            field = wait_for(lambda: web.find_elements("css selector", "input[type=password]"), 60, what="password")[0]
            field.send_keys("wrong password")
            click_text(web, "button", "Sign in")
            wait_for(lambda: "Wrong password." in page_text(web), 30, what="the refusal")
            assert "Run analysis" not in page_text(web)
            save_shot(web, artifacts, "07-password-refused")
            field = web.find_element("css selector", "input[type=password]")
            from selenium.webdriver.common.keys import Keys

            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(Keys.DELETE)
            field.send_keys("correct horse battery")
            click_text(web, "button", "Sign in")
            try:
                wait_for(lambda: "Run analysis" in page_text(web), 30, what="the app after the right password")
            finally:
                save_shot(web, artifacts, "08-password-accepted")
        finally:
            web.quit()


def _scroll_to_tabs(driver) -> None:
    driver.execute_script("document.querySelector('[role=tablist]').scrollIntoView({block: 'start'})")
    time.sleep(0.5)


def _deepest_voxel(mask: np.ndarray) -> tuple[int, int, int]:
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1, 1:-1]
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), depth.shape))


def _id(labels: nib.Nifti1Image, name: str) -> int:
    from totalsegmentator.map_to_binary import class_map

    return {v: k for k, v in class_map["total"].items()}[name]


def _grid_rows(driver, key: str = "organ_table") -> list[list[str]]:
    """The cells of the dataframe with Streamlit key ``key``, from the grid's accessible table."""
    script = """
      const grid = document.querySelector('.st-key-""" + key + """ [data-testid=stDataFrame] table');
      if (!grid) return null;
      return Array.from(grid.querySelectorAll('tbody tr')).map(r => Array.from(r.children).map(c => c.textContent));
    """
    return wait_for(lambda: driver.execute_script(script), 30, what="the organ table")


def _cli_message(path: Path, tmp_path: Path) -> str:
    """What the command line says for the same input, stored under the name the UI gives uploads."""
    from body_organ_analysis.ui.uploads import kind_of

    kind = kind_of(path.name)
    folder = tmp_path / f"cli-{path.stem}"
    stored = folder / ("dicom/000000.dcm" if kind == "dicom" else f"ct.{kind}")
    given = stored.parent if kind == "dicom" else stored
    stored.parent.mkdir(parents=True)
    stored.write_bytes(path.read_bytes())
    done = subprocess.run([sys.executable, "-m", "body_organ_analysis", "-i", str(given), "-o", str(folder / "out"),
                           "--offline"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode not in (0, 1), done.stderr
    return " ".join(done.stderr.split("error: ", 1)[1].split())


def _normalise_names(message: str) -> str:
    """The message with file paths reduced to their last part (the UI and CLI store the file in different places)."""
    return re.sub(r"(/[^\s/]+)+/([^\s/]+)", r"\2", message).removeprefix("error: ")


def test_demo_shows_body_composition_levels_banner_and_report(app, driver, artifacts):
    url, results = app
    start_page(driver, url)
    click_text(driver, "label", "Demo phantom")
    wait_for(lambda: "synthetic CT phantom" in page_text(driver), 30, what="the demo's description")
    click_text(driver, "button", "Run analysis")
    try:
        wait_for(lambda: driver.find_elements("css selector", "iframe[title*=boa_viewer]"), 240, what="the demo's viewer")
    finally:
        save_shot(driver, artifacts, "09-demo-after-run")
    # the approximate-engine banner, as in the PDF
    wait_for(lambda: "APPROXIMATE" in page_text(driver), 30, what="the provenance banner")
    run_folder = sorted((results / "runs").iterdir())[-1]
    document = json.loads((run_folder / "output" / "bca-measurements.json").read_text())
    assert document["approximate"] is True
    click_text(driver, "[role=tab]", "Body composition")
    tissues = {row[0]: row for row in _grid_rows(driver, "bca_table")}
    for tissue, values in document["aggregated"]["whole_scan"].items():
        assert float(tissues[tissue][1]) == pytest.approx(values["volume_ml"], abs=0.0005)
    wait_for(lambda: driver.find_elements("css selector", "[data-testid=stImage] img, [data-testid=stPyplot] img"), 60,
             what="the per-slice plot")  # fmt: skip
    _scroll_to_tabs(driver)
    save_shot(driver, artifacts, "09a-demo-body-composition")
    click_text(driver, "[role=tab]", "Vertebral levels")
    levels = _grid_rows(driver, "levels_table")
    assert [row[0] for row in levels if row[0]] == list(document["vertebral_levels"])
    for row in levels:
        assert float(row[3]) == pytest.approx(document["vertebral_levels"][row[0]]["muscle_area_cm2"], abs=0.05)
    _scroll_to_tabs(driver)
    save_shot(driver, artifacts, "09-demo-vertebral-levels")
    click_text(driver, "[role=tab]", "Report")
    pages = wait_for(lambda: driver.find_elements("css selector", "[data-testid=stImage] img"), 60, what="PDF pages")
    assert len(pages) >= 2
    _scroll_to_tabs(driver)
    save_shot(driver, artifacts, "10-demo-report")


def test_pacs_jobs_page_lists_job_keys_only(tmp_path, artifacts):
    pytest.importorskip("celery")
    from body_organ_analysis.pacs.stats import StatsStore

    stats = tmp_path / "stats.sqlite"
    store = StatsStore(None, stats)
    store.migrate()
    for n, state in enumerate(["delivered", "failed", "delivered", "partially_delivered"]):
        store.create_job(f"key{n:02d}abcdef", f"series-secret-{n}", 20, "SCANNER_AET")
        store.mark_queued(f"key{n:02d}abcdef")
        store.begin_attempt(f"key{n:02d}abcdef", 3)
        store.finish(f"key{n:02d}abcdef", state, reason="SMB share unreachable" if state != "delivered" else None,
                     timings_s={"load": 1.0 + n, "segment total": 10.0 + n})  # fmt: skip
    results = tmp_path / "results"
    results.mkdir()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with app_server(results, env={"STATS_SQLITE_PATH": str(stats)}) as url:
        web = make_driver(downloads)
        try:
            web.get(url)
            click_text(web, "label", "PACS jobs")
            wait_for(lambda: "Jobs by state and day" in page_text(web), 60, what="the PACS page")
            html = web.page_source
            wait_for(lambda: "key03abcdef" in web.execute_script("return document.body.textContent"), 30,
                     what="the job keys")  # fmt: skip
            assert "series-secret" not in web.execute_script("return document.body.textContent")
            assert "SCANNER_AET" not in html
            save_shot(web, artifacts, "11-pacs-jobs")
        finally:
            web.quit()


def test_history_lists_the_runs_and_reopens_one(app, driver, artifacts):
    url, results = app
    runs = sorted(p.name for p in (results / "runs").iterdir())
    assert runs, "the earlier tests of this module made runs"
    driver.get(url)
    click_text(driver, "label", "History")
    wait_for(lambda: all(run in driver.execute_script("return document.body.textContent") for run in runs), 60,
             what="every run in the history table")  # fmt: skip
    save_shot(driver, artifacts, "12-history")
    done = [r for r in runs if json.loads((results / "runs" / r / "status.json").read_text())["state"] == "done"]
    choose_option(driver, "open a finished run", done[0])
    click_text(driver, "button", "Open")
    wait_for(lambda: driver.find_elements("css selector", "iframe[title*=boa_viewer]"), 60, what="the reopened run")
    wait_for(lambda: done[0] in driver.page_source and "Result" in page_text(driver), 30, what="the reopened run's id")
