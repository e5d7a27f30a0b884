"""Checksums (pinned / trust on first use), safe checkpoint loading, locked installs, the predictor cache."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from body_organ_analysis.errors import ExitCode, WeightsError
from body_organ_analysis.models import predictors, weights, weights_manifest
from body_organ_analysis.models.networks import Network, bca_network
from body_organ_analysis.models.weights_manifest import LOCK_DIR, MANIFEST_NAME, read_manifest
from helpers.standins import make_standin_network

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = "nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth"


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, counts GET requests and answers slowly (so two clients overlap)."""

    requests: list[str]
    delay_s = 0.0

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append(self.path)
        time.sleep(self.delay_s)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    seen: list[str] = []
    handler = type("Handler", (CountingHandler,), {"requests": seen, "delay_s": 0.0})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def tiny_network(dataset_id: int = 901) -> Network:
    """Same folder, different ``dataset_id``: the stand-in generator then draws other random weights."""
    return Network(dataset_id=dataset_id, folder="Dataset901_test", trainer="nnUNetTrainer", labels=((1, "a"),))


def serve_zip(served: Path, network: Network, scratch: Path) -> Path:
    make_standin_network(scratch, network)
    archive = served / f"{network.folder}.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted((scratch / network.folder).rglob("*")):
            bundle.write(path, path.relative_to(scratch).as_posix())
    return archive


def load(root: Path, network: Network):
    return predictors.get_predictor(network.model_dir(root), (0,), predictors.resolve_device("cpu"), 0.5)


@pytest.fixture()
def boa_log(caplog):
    """The package logger's records, also after the command line turned its propagation off."""
    import logging

    logger = logging.getLogger("body_organ_analysis")
    logger.addHandler(caplog.handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield caplog
    logger.removeHandler(caplog.handler)
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def _fresh_caches():
    predictors.clear_cache()
    weights_manifest.forget_verified()
    yield
    predictors.clear_cache()
    predictors.set_cache_size(predictors.DEFAULT_CACHE_SIZE)


def test_first_download_is_recorded_and_a_different_archive_refused_later(server, tmp_path):
    served, url, _ = server
    root = tmp_path / "weights"
    archive = serve_zip(served, tiny_network(), tmp_path / "a")
    published = archive.read_bytes()
    weights.download_network(tiny_network(), root, url)
    record = read_manifest(root)["networks"]["Dataset901_test"]
    assert record["archive_sha256"] == weights_manifest.sha256_of(archive)
    assert record["files"][CHECKPOINT]["sha256"] == weights_manifest.sha256_of(root / "Dataset901_test" / CHECKPOINT)
    assert record["pinned"] is False

    shutil.rmtree(root / "Dataset901_test")  # lost; the server now has other weights under the same name
    serve_zip(served, tiny_network(dataset_id=902), tmp_path / "b")
    with pytest.raises(WeightsError, match="recorded when they were first installed") as caught:
        weights.download_network(tiny_network(), root, url)
    assert caught.value.exit_code == ExitCode.WEIGHTS_MISSING
    assert sorted(p.name for p in root.iterdir()) == [LOCK_DIR, MANIFEST_NAME]  # nothing installed, no temp left

    archive.write_bytes(published)  # the original release again: accepted
    weights.download_network(tiny_network(), root, url)
    assert tiny_network().is_present(root)


def test_load_verifies_files_once_per_process_and_refuses_changed_ones(server, tmp_path, monkeypatch):
    served, url, _ = server
    root = tmp_path / "weights"
    serve_zip(served, tiny_network(), tmp_path / "a")
    weights.download_network(tiny_network(), root, url)
    weights_manifest.forget_verified()
    hashed: list[str] = []
    original = weights_manifest.sha256_of
    monkeypatch.setattr(weights_manifest, "sha256_of", lambda path: hashed.append(Path(path).name) or original(path))

    load(root, tiny_network())
    assert sorted(hashed) == ["checkpoint_final.pth", "dataset.json", "plans.json"]
    predictors.clear_cache()
    load(root, tiny_network())  # loaded again, files unchanged: not hashed again
    assert len(hashed) == 3

    checkpoint = root / "Dataset901_test" / CHECKPOINT
    shutil.copy(tmp_path / "a" / "Dataset901_test" / CHECKPOINT, checkpoint)  # same bytes, new mtime: re-hashed, fine
    predictors.clear_cache()
    load(root, tiny_network())
    assert len(hashed) == 4

    make_standin_network(tmp_path / "other", tiny_network(dataset_id=903))
    shutil.copy(tmp_path / "other" / "Dataset901_test" / CHECKPOINT, checkpoint)  # swapped weights
    predictors.clear_cache()
    with pytest.raises(WeightsError, match=f"{CHECKPOINT}.*SHA-256"):
        load(root, tiny_network())


def test_weights_from_another_tool_are_recorded_on_first_load(tmp_path):
    root = tmp_path / "weights"
    make_standin_network(root, tiny_network())  # as TotalSegmentator's own download would leave them
    assert not (root / MANIFEST_NAME).exists()
    load(root, tiny_network())
    record = read_manifest(root)["networks"]["Dataset901_test"]
    assert record["source"].startswith("first load")
    assert set(record["files"]) == {
        "BOA_STAND_IN.json", "nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json",
        "nnUNetTrainer__nnUNetPlans__3d_fullres/dataset.json", CHECKPOINT,
    }  # fmt: skip


def test_read_only_weights_folder_without_record_still_loads(tmp_path, boa_log):
    root = tmp_path / "weights"
    make_standin_network(root, tiny_network())
    if os.geteuid() != 0 or subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
        pytest.skip("needs root and chattr to make a folder read-only for root")
    try:
        assert load(root, tiny_network()).predictor is not None
    finally:
        subprocess.run(["chattr", "-i", str(root)], check=True)
    assert not (root / MANIFEST_NAME).exists()
    assert "loaded unverified" in boa_log.text


def rewrite_checkpoint(path: Path, **extra) -> None:
    import torch

    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    torch.save({**checkpoint, **extra}, str(path))


class Payload:
    """Unpickling this would run code: it touches a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_with_code_is_refused_unrun(tmp_path):
    root = tmp_path / "weights"
    make_standin_network(root, tiny_network())
    marker = tmp_path / "code-ran"
    rewrite_checkpoint(root / "Dataset901_test" / CHECKPOINT, extra=Payload(marker))
    with pytest.raises(WeightsError, match="objects other than tensors and plain data"):
        load(root, tiny_network())
    assert not marker.exists()


def test_checkpoint_as_nnunet_writes_it_loads(tmp_path):
    """nnU-Net keeps numpy values in its training log and a torch.device in init_args: allowed."""
    import torch

    root = tmp_path / "weights"
    make_standin_network(root, tiny_network())
    path = root / "Dataset901_test" / CHECKPOINT
    init_args = {"configuration": "3d_fullres", "fold": 0, "device": torch.device("cpu"), "plans": {"x": [1, 2]}}
    logging = {"mean_fg_dice": [np.float64(0.5), np.float32(0.6)], "epoch_end_timestamps": [np.float64(1.0)]}
    rewrite_checkpoint(path, init_args=init_args, logging=logging, _best_ema=np.float64(0.7), current_epoch=1000,
                       spacing=np.array([1.5, 1.5, 1.5]))  # fmt: skip
    assert predictors.load_checkpoint(path)["_best_ema"] == pytest.approx(0.7)
    assert load(root, tiny_network()).predictor is not None


def test_pack_carries_checksums_and_unpack_refuses_a_changed_file(tmp_path):
    source = tmp_path / "source"
    packed = tmp_path / "weights.zip"
    network = bca_network("body_parts")
    make_standin_network(source, network)
    assert weights.pack(source, packed, ["body_parts"]) == 1
    with zipfile.ZipFile(packed) as bundle:
        carried = json.loads(bundle.read(MANIFEST_NAME))["networks"][network.folder]["files"]
        names = bundle.namelist()
    assert set(carried) == {n.split("/", 1)[1] for n in names if n.startswith(network.folder)}

    target = tmp_path / "target"
    assert weights.unpack(packed, target) == [network.folder]
    assert read_manifest(target)["networks"][network.folder]["files"] == carried

    tampered = tmp_path / "tampered.zip"  # one checkpoint swapped, the carried checksums kept
    other = tmp_path / "other"
    make_standin_network(other, Network(**{**network.__dict__, "dataset_id": 7}))
    with zipfile.ZipFile(packed) as original, zipfile.ZipFile(tampered, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            if name.endswith("checkpoint_final.pth"):
                data = (other / name).read_bytes()
            copy.writestr(name, data)
    fresh = tmp_path / "fresh"
    with pytest.raises(WeightsError, match="differ from the checksums packed with them"):
        weights.unpack(tampered, fresh)
    assert not (fresh / network.folder).exists()


def test_unpack_refuses_weights_that_differ_from_the_recorded_ones(tmp_path):
    network = bca_network("body_parts")
    make_standin_network(tmp_path / "a", network)
    make_standin_network(tmp_path / "b", Network(**{**network.__dict__, "dataset_id": 7}))
    weights.pack(tmp_path / "a", tmp_path / "a.zip", ["body_parts"])
    weights.pack(tmp_path / "b", tmp_path / "b.zip", ["body_parts"])
    root = tmp_path / "weights"
    weights.unpack(tmp_path / "a.zip", root)
    before = weights_manifest.sha256_of(network.model_dir(root) / "fold_0" / "checkpoint_final.pth")
    with pytest.raises(WeightsError, match="recorded when they were first installed"):
        weights.unpack(tmp_path / "b.zip", root)
    assert weights_manifest.sha256_of(network.model_dir(root) / "fold_0" / "checkpoint_final.pth") == before


DOWNLOAD = """
import sys
from pathlib import Path
from body_organ_analysis.models import weights
from body_organ_analysis.models.networks import Network
network = Network(dataset_id=901, folder="Dataset901_test", trainer="nnUNetTrainer", labels=((1, "a"),))
print(weights.download_network(network, Path(sys.argv[1]), sys.argv[2]))
"""


def test_two_processes_install_once(server, tmp_path):
    served, url, handler = server
    serve_zip(served, tiny_network(), tmp_path / "a")
    handler.delay_s = 1.0  # the first download is still running when the second process starts
    root = tmp_path / "weights"
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen([sys.executable, "-c", DOWNLOAD, str(root), url], env=environ,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = [p.communicate(timeout=180) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    assert handler.requests == ["/Dataset901_test.zip"]  # the second waited for the lock and found it installed
    assert tiny_network().is_present(root)
    assert sorted(p.name for p in root.iterdir()) == [LOCK_DIR, "Dataset901_test", MANIFEST_NAME]


def test_predictor_cache_is_bounded_least_recently_used(tmp_path):
    root = tmp_path / "weights"
    networks = [Network(dataset_id=910 + i, folder=f"Dataset91{i}_t", trainer="nnUNetTrainer", labels=((1, "a"),))
                for i in range(3)]  # fmt: skip
    for network in networks:
        make_standin_network(root, network)
    predictors.set_cache_size(2)
    first = load(root, networks[0])
    load(root, networks[1])
    assert load(root, networks[0]) is first  # used again: now the most recent
    load(root, networks[2])  # evicts networks[1], the least recently used
    assert [Path(key[0]).parent.name for key in predictors.cached_keys()] == ["Dataset910_t", "Dataset912_t"]
    assert load(root, networks[0]) is first


def test_predictor_cache_is_safe_across_threads(tmp_path, monkeypatch):
    root = tmp_path / "weights"
    make_standin_network(root, tiny_network())
    loads = []
    original = predictors._load
    monkeypatch.setattr(predictors, "_load", lambda *args: loads.append(1) or original(*args))
    barrier = threading.Barrier(4)
    found = []

    def worker() -> None:
        barrier.wait()
        found.append(load(root, tiny_network()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(found) == 4 and all(item is found[0] for item in found)


def test_cache_size_setting(tmp_path):
    from body_organ_analysis.errors import UsageError
    from body_organ_analysis.settings import build_settings

    flags = {"input_image": Path("ct.nii.gz"), "output_dir": Path("out")}
    assert build_settings(flags, {"BOA_MODEL_CACHE_SIZE": "3"}).runtime.model_cache_size == 3
    assert build_settings(flags, {}).runtime.model_cache_size == predictors.DEFAULT_CACHE_SIZE
    for bad in ("0", "many"):
        with pytest.raises(UsageError, match="BOA_MODEL_CACHE_SIZE"):
            build_settings(flags, {"BOA_MODEL_CACHE_SIZE": bad})


def test_mirror_credentials_are_never_recorded_or_printed(server, tmp_path, boa_log):
    served, url, _ = server
    serve_zip(served, tiny_network(), tmp_path / "a")
    secret_url = url.replace("http://", "http://reader:s3cret-token@") + "/?key=s3cret-key"
    root = tmp_path / "weights"
    weights.download_network(tiny_network(), root, secret_url.replace("/?key=s3cret-key", ""))
    assert "downloading Dataset901_test from http://127.0.0.1" in boa_log.text
    assert "s3cret" not in (root / MANIFEST_NAME).read_text() and "s3cret" not in boa_log.text
    from body_organ_analysis.models.registry import get_model
    from body_organ_analysis.settings import RuntimeConfig

    offline = RuntimeConfig(weights_dir=tmp_path / "empty", weights_url=secret_url, offline=True)
    with pytest.raises(WeightsError) as caught:
        weights.ensure_weights([get_model("body_parts")], offline)
    assert "s3cret" not in str(caught.value)
    assert "weights --weights-dir" in str(caught.value) and "--weights-url" not in str(caught.value)
