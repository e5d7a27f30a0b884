"""docker-compose.yml, .env_sample, Dockerfiles and service configs agree and are secure by default.

Docker images cannot be built here (no registry); these checks read the files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from body_organ_analysis.pacs.settings import WORKER_VARIABLES
from body_organ_analysis.settings import ENV_VARIABLES

REPO = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
REQUIRED = {"ORTHANC_USERNAME", "ORTHANC_PASSWORD", "ORTHANC_ALLOWED_AETS", "RABBITMQ_USER",
            "RABBITMQ_PASSWORD", "POSTGRES_PASSWORD"}


def env_sample() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (REPO / ".env_sample").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {k: v for k, v in pairs}


def compose_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_TEXT))


def test_every_compose_variable_documented_and_vice_versa():
    assert compose_variables() == set(env_sample())


def test_every_sample_variable_has_a_comment_and_docs():
    docs = (REPO / "docs" / "pacs_integration.md").read_text()
    lines = (REPO / ".env_sample").read_text().splitlines()
    for name in env_sample():
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}="))
        assert any(lines[j].startswith("#") for j in range(max(0, index - 3), index)) or \
            lines[index - 1].split("=")[0] in env_sample(), name
    for name in set(env_sample()) | set(WORKER_VARIABLES) | set(ENV_VARIABLES.values()):
        assert f"`{name}`" in docs, f"{name} missing from docs/pacs_integration.md"


def test_required_secrets_have_no_default():
    sample = env_sample()
    for name in REQUIRED:
        assert sample[name] == "", name
        uses = re.findall(r"\$\{" + name + r"(:?[-?][^}]*)?\}", COMPOSE_TEXT)
        assert uses and all(u.startswith(":?") for u in uses if u), (name, uses)
    assert not re.search(r"^default_(user|pass)", (REPO / "scripts" / "rabbitmq" / "rabbitmq.conf").read_text(), re.M)
    assert "default_user = %s" in (REPO / "scripts" / "entrypoints" / "rabbitmq.sh").read_text()


def test_worker_environment_covers_every_setting():
    for name in ("worker-cpu", "worker-gpu", "trigger"):
        env = COMPOSE["services"][name]["environment"]
        assert set(WORKER_VARIABLES) | set(ENV_VARIABLES.values()) <= set(env), name


def test_every_service_has_a_healthcheck():
    for name, service in COMPOSE["services"].items():
        assert service.get("healthcheck", {}).get("test"), name


def test_no_trust_auth_and_no_published_internals():
    assert "trust" not in COMPOSE_TEXT.lower()
    postgres = COMPOSE["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    for name in ("postgres", "rabbitmq", "worker-cpu", "worker-gpu", "trigger"):
        assert "ports" not in COMPOSE["services"][name], name
    http = [p for p in COMPOSE["services"]["orthanc"]["ports"] if p.endswith(":8042")]
    assert http == ["${ORTHANC_HTTP_BIND:-127.0.0.1:8042}:8042"]


def test_dockerfiles_exist_with_build_cache():
    for image in ("cli", "orthanc", "rabbitmq", "worker-gpu", "worker-cpu"):
        assert (REPO / "scripts" / f"Dockerfile.{image}").is_file(), image
    for image in ("cli", "worker-gpu", "worker-cpu"):
        text = (REPO / "scripts" / f"Dockerfile.{image}").read_text()
        assert "ARG BUILD_CACHE" in text and "--mount=type=cache" in text
    for service in COMPOSE["services"].values():
        if "build" in service:
            assert (REPO / service["build"]["dockerfile"]).is_file()
            assert service["build"]["args"]["BUILD_CACHE"] == "${BUILD_CACHE:-1}"


def test_weights_mounted_beside_baked_ones():
    volumes = COMPOSE["services"]["worker-cpu"]["volumes"]
    assert "${WEIGHTS_HOST_DIR:-./weights}:/weights:ro" in volumes
    entry = (REPO / "scripts" / "entrypoints" / "worker.sh").read_text()
    assert "/opt/boa/weights" in entry and "TOTALSEG_WEIGHTS_PATH=/weights" in entry


def test_entrypoints_are_valid_shell():
    for script in (REPO / "scripts" / "entrypoints").glob("*.sh"):
        subprocess.run(["sh", "-n", str(script)], check=True)
        assert os.access(script, os.X_OK), script


def test_consumer_timeout_above_task_time_limit():
    conf = (REPO / "scripts" / "rabbitmq" / "rabbitmq.conf").read_text()
    timeout_ms = int(re.search(r"^consumer_timeout\s*=\s*(\d+)", conf, re.M).group(1))
    assert timeout_ms > int(WORKER_VARIABLES["TASK_TIME_LIMIT_S"]) * 1000
    assert timeout_ms > int(env_sample()["TASK_TIME_LIMIT_S"]) * 1000


def test_orthanc_config_secure_by_default(tmp_path):
    script = REPO / "scripts" / "orthanc" / "write_config.py"
    env = {"PATH": os.environ["PATH"], "ORTHANC_USERNAME": "u", "ORTHANC_PASSWORD": "p",
           "ORTHANC_ALLOWED_AETS": "SCANNER1@10.0.0.5:104, CT2"}
    subprocess.run([sys.executable, str(script), str(tmp_path / "o.json")], env=env, check=True)
    config = json.loads((tmp_path / "o.json").read_text())
    assert config["AuthenticationEnabled"] and config["RegisteredUsers"] == {"u": "p"}
    assert not config["DicomAlwaysAllowStore"] and not config["DicomAlwaysAllowEcho"]
    assert sorted(m[0] for m in config["DicomModalities"].values()) == ["CT2", "SCANNER1"]
    assert config["DicomModalities"]["modality0"] == ["SCANNER1", "10.0.0.5", 104]
    from helpers.services import Orthanc

    tested = Orthanc(tmp_path).config()  # the configuration the service tests run with
    for key in ("AuthenticationEnabled", "DicomAlwaysAllowStore", "DicomAlwaysAllowEcho",
                "DicomCheckCalledAet", "RemoteAccessAllowed", "Plugins", "DeidentifyLogs", "OverwriteInstances"):
        assert tested[key] == config[key], key
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "x.json")],
                             env={"PATH": os.environ["PATH"]}, capture_output=True)
    assert missing.returncode == 1 and not (tmp_path / "x.json").exists()


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed")
def test_compose_file_valid_and_refuses_missing_secrets(tmp_path):
    filled = {**env_sample(), **{name: "x" for name in REQUIRED}}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in filled.items()))
    command = ["docker-compose", "--env-file", str(env_file), "-f", str(REPO / "docker-compose.yml"),
               "--profile", "cpu", "--profile", "gpu", "config", "-q"]
    clean_env = {"PATH": os.environ["PATH"]}
    assert subprocess.run(command, capture_output=True, text=True, env=clean_env).returncode == 0
    for name in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):  # each checked by the regex test above too
        env_file.write_text("".join(f"{k}={v}\n" for k, v in filled.items() if k != name))
        result = subprocess.run(command, capture_output=True, text=True, env=clean_env)
        assert result.returncode != 0 and name in result.stderr, name


def test_privacy_and_delivery_defaults():
    """No DICOMweb host assumed, stand-in results refused, non-identifying folders, a key file kept."""
    sample = env_sample()
    assert sample["DICOMWEB_URL"] == "" and sample["ALLOW_STAND_IN_RESULTS"] == "false"
    assert sample["OUTPUT_IDENTIFYING_PATHS"] == "false" and sample["RESULT_PATH_KEY"] == ""
    env = COMPOSE["services"]["worker-cpu"]["environment"]
    assert env["DICOMWEB_URL"] == "${DICOMWEB_URL:-}"
    assert env["ALLOW_STAND_IN_RESULTS"] == "${ALLOW_STAND_IN_RESULTS:-false}"
    assert env["RESULT_PATH_KEY_FILE"].startswith("/storage/")  # the worker's persistent volume
    assert any(v.endswith(":/storage") for v in COMPOSE["services"]["worker-cpu"]["volumes"])
    assert WORKER_VARIABLES["DICOMWEB_URL"] == "" and WORKER_VARIABLES["ALLOW_STAND_IN_RESULTS"] == "false"
