"""Weights: location, download from a local HTTP server, atomicity, offline errors, pack/unpack."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from body_organ_analysis.errors import ExitCode, WeightsError
from body_organ_analysis.models import weights
from body_organ_analysis.models.networks import Network, STAND_IN_MARKER, bca_network
from body_organ_analysis.models.registry import get_model
from body_organ_analysis.models.weights_manifest import LOCK_DIR, MANIFEST_NAME
from body_organ_analysis.settings import RuntimeConfig
from helpers.standins import make_standin_network


def runtime(**kwargs) -> RuntimeConfig:
    return RuntimeConfig(**kwargs)


@pytest.fixture()
def server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def tiny_network(**changes) -> Network:
    network = Network(dataset_id=901, folder="Dataset901_test", trainer="nnUNetTrainer", labels=((1, "a"),))
    return Network(**{**network.__dict__, **changes})


def zip_of_network(network: Network, target: Path, tmp: Path) -> bytes:
    make_standin_network(tmp, network)
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((tmp / network.folder).rglob("*")):
            archive.write(path, path.relative_to(tmp).as_posix())
    return target.read_bytes()


def installed(root: Path) -> list[str]:
    """What a weights folder holds besides its lock files."""
    return sorted(p.name for p in root.iterdir() if p.name != LOCK_DIR)


def test_weights_root_follows_totalsegmentator(tmp_path):
    assert weights.weights_root(runtime(totalseg_weights_path=tmp_path)) == tmp_path
    assert weights.weights_root(runtime(totalseg_home_dir=tmp_path)) == tmp_path / "nnunet" / "results"
    assert weights.weights_root(runtime(weights_dir=tmp_path / "w", totalseg_weights_path=tmp_path)) == tmp_path / "w"


def test_download_from_local_server_is_checked_and_unpacked(server, tmp_path):
    served, url = server
    network = tiny_network()
    payload = zip_of_network(network, served / f"{network.folder}.zip", tmp_path / "src")
    checked = tiny_network(archive_bytes=len(payload), archive_sha256=hashlib.sha256(payload).hexdigest())
    root = tmp_path / "weights"
    seen = []
    path = weights.download_network(checked, root, url, progress=lambda done, total: seen.append((done, total)))
    assert path == root / network.folder
    assert checked.is_present(root)
    assert seen[-1] == (len(payload), len(payload))
    assert installed(root) == [network.folder, MANIFEST_NAME]  # no temporary files left


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    served, url = server
    network = tiny_network()
    zip_of_network(network, served / f"{network.folder}.zip", tmp_path / "src")
    root = tmp_path / "weights"
    with pytest.raises(WeightsError, match="SHA-256"):
        weights.download_network(tiny_network(archive_sha256="0" * 64), root, url)
    assert installed(root) == []


def test_truncated_archive_leaves_nothing(server, tmp_path):
    served, url = server
    network = tiny_network()
    payload = zip_of_network(network, tmp_path / "full.zip", tmp_path / "src")
    (served / f"{network.folder}.zip").write_bytes(payload[: len(payload) // 2])
    root = tmp_path / "weights"
    with pytest.raises(WeightsError):
        weights.download_network(network, root, url)
    assert installed(root) == []


def test_missing_file_on_server_is_a_weights_error(server, tmp_path):
    _, url = server
    with pytest.raises(WeightsError, match="404"):
        weights.download_network(tiny_network(), tmp_path / "weights", url)


def test_offline_missing_weights_names_model_source_and_command(tmp_path):
    """Each URL unbroken on a line of its own, the size, and commands the weights parser accepts as given."""
    import shlex

    from body_organ_analysis.console import fill
    from body_organ_analysis.models.weights_cli import build_parser

    s = runtime(weights_dir=tmp_path, offline=True)
    with pytest.raises(WeightsError) as caught:
        weights.ensure_weights([get_model("body_regions"), get_model("total")], s, fast_bca=True)
    assert caught.value.exit_code == ExitCode.WEIGHTS_MISSING
    printed = fill(f"error: {caught.value}").splitlines()  # as the command line prints it
    expected_urls = {
        n.network.archive_url(None) for n in weights.needed_networks([get_model("body_regions"), get_model("total")], fast_bca=True)
    }
    assert len(expected_urls) == 6 and all(len(url) > 100 for url in expected_urls)  # longer than a wrapped line
    assert expected_urls == {line.strip() for line in printed if line.strip().startswith("https://")}
    assert "Dataset542_BCA_inference (1.15 GB), from" in caught.value.args[0]
    assert "Download size: 1.15 GB for the networks with a published size, plus 5 whose" in caught.value.args[0]
    commands = [shlex.split(line.strip()) for line in printed if line.strip().startswith("body_organ_analysis weights")]
    download, unpack_here = commands
    args = build_parser().parse_args(download[2:])
    assert (args.command, sorted(args.models), args.weights_dir, args.fast_bca) == (
        "download", ["body_regions", "total"], tmp_path, True
    )
    args = build_parser().parse_args(unpack_here[2:])
    assert (args.command, args.file, args.weights_dir) == ("unpack", Path("weights.zip"), tmp_path)


def test_network_failure_is_a_weights_error(tmp_path):
    # a port nothing listens on: connection refused, no traceback for the user
    s = runtime(weights_dir=tmp_path, weights_url="http://127.0.0.1:9")
    with pytest.raises(WeightsError, match="download failed"):
        weights.ensure_weights([get_model("body_parts")], s)


def test_ensure_weights_downloads_what_is_missing(server, tmp_path):
    served, url = server
    network = bca_network("body_parts")
    zip_of_network(network, served / f"{network.folder}.zip", tmp_path / "src")
    root = tmp_path / "weights"
    weights.ensure_weights([get_model("body_parts")], runtime(weights_dir=root, weights_url=url))
    assert network.is_present(root) and network.is_stand_in(root)


def test_pack_and_unpack_round_trip(tmp_path, standin_weights):
    archive = tmp_path / "weights.zip"
    count = weights.pack(standin_weights, archive, ["body_regions", "liver_vessels"])
    assert count == 2
    target = tmp_path / "elsewhere"
    names = weights.unpack(archive, target)
    assert names == ["Dataset008_HepaticVessel", "Dataset542_BCA_inference"]
    for name in names:
        originals = sorted(p.relative_to(standin_weights / name) for p in (standin_weights / name).rglob("*"))
        copies = sorted(p.relative_to(target / name) for p in (target / name).rglob("*"))
        assert originals == copies
        assert (target / name / STAND_IN_MARKER).is_file()


def test_unpack_refuses_unsafe_paths(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../Dataset999_evil/x.txt", "x")
    with pytest.raises(WeightsError, match="unsafe"):
        weights.unpack(archive, tmp_path / "weights")
    assert not (tmp_path / "Dataset999_evil").exists()


def cli(argv: list[str], environ: dict[str, str]) -> int:
    from body_organ_analysis.models.weights_cli import main

    return main(argv, environ)


def test_cli_list_download_pack_unpack(server, tmp_path, standin_weights, capsys):
    served, url = server
    network = bca_network("body_parts")
    zip_of_network(network, served / f"{network.folder}.zip", tmp_path / "src")
    root = tmp_path / "weights"
    environ = {"BOA_WEIGHTS_DIR": str(root), "BOA_WEIGHTS_URL": url}

    assert cli(["list"], environ) == 0
    listing = capsys.readouterr().out
    assert f"weights folder: {root}" in listing
    assert all(line.split()[1] == "missing" for line in listing.splitlines()[1:])

    assert cli(["download", "body_parts"], environ) == 0
    assert "Dataset543_BCA_body_parts: downloaded" in capsys.readouterr().out
    assert cli(["list"], environ) == 0
    rows = {line.split()[-1]: line.split()[1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["Dataset543_BCA_body_parts"] == "stand-in"
    assert rows["Dataset542_BCA_inference"] == "missing"

    archive = tmp_path / "carry.zip"
    assert cli(["pack", str(archive)], environ) == 0
    other = tmp_path / "other"
    assert cli(["unpack", str(archive)], {"BOA_WEIGHTS_DIR": str(other)}) == 0
    assert network.is_present(other)


def test_cli_download_offline_is_refused(tmp_path, capsys):
    code = cli(["download", "body_parts"], {"BOA_WEIGHTS_DIR": str(tmp_path), "BOA_OFFLINE": "1"})
    assert code == ExitCode.WEIGHTS_MISSING
    assert "Offline mode is on" in capsys.readouterr().err


def test_cli_download_unreachable_server(tmp_path, capsys):
    code = cli(["download", "body_parts"], {"BOA_WEIGHTS_DIR": str(tmp_path), "BOA_WEIGHTS_URL": "http://127.0.0.1:9"})
    assert code == ExitCode.WEIGHTS_MISSING
    err = capsys.readouterr().err
    assert "Downloading http://127.0.0.1:9/Dataset543_BCA_body_parts.zip failed" in " ".join(err.split())
    assert "Traceback" not in err
