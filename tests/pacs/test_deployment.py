"""docker-compose.yml, .env_sample, Dockerfiles and service configs agree and are secure by default.

These checks read the files; scripts/compose_smoke.sh builds the images and runs the stack
(a CI step of its own, .ci/run).
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
    entry = (REPO / "scripts" / "entrypoints" / "postgres.sh").read_text()
    assert "--auth-local=scram-sha-256 --auth-host=scram-sha-256" in entry and "trust" not in entry
    assert "scram-sha-256" in entry.split("pg_hba.conf")[0].rsplit("printf", 1)[1]  # network rule
    for name in ("postgres", "rabbitmq", "worker-cpu", "worker-gpu", "trigger"):
        assert "ports" not in COMPOSE["services"][name], name
    http = [p for p in COMPOSE["services"]["orthanc"]["ports"] if p.endswith(":8042")]
    assert http == ["${ORTHANC_HTTP_BIND:-127.0.0.1:8042}:8042"]


DOCKERFILES = {name: (REPO / "scripts" / f"Dockerfile.{name}").read_text()
               for name in ("boa", "orthanc", "rabbitmq", "postgres")}


def test_every_image_builds_from_the_base_argument_and_nothing_is_pulled():
    for name, text in DOCKERFILES.items():
        assert text.count("ARG BASE_IMAGE=debian:bookworm-slim") == 1, name
        stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
        names = {stage for _, stage in stages if stage}
        for source, _ in stages:
            assert source == "${BASE_IMAGE}" or source in names, (name, source)
        assert "# syntax=" not in text, name  # a syntax line makes BuildKit pull its front end
    for name, service in COMPOSE["services"].items():
        assert "build" in service, f"{name} would be pulled from a registry"
        assert service["build"]["args"]["BASE_IMAGE"] == "${BASE_IMAGE:-debian:bookworm-slim}", name
        assert (REPO / service["build"]["dockerfile"]).is_file(), name


def test_images_run_as_non_root_with_read_only_root():
    stages = {f"{name}:{(m.group(1) or 'final')}": m.group(2) for name, text in DOCKERFILES.items()
              for m in re.finditer(r"^FROM \S+(?: AS (\S+))?\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)}
    for stage in ("boa:cli", "boa:worker", "boa:ui", "orthanc:final", "rabbitmq:final", "postgres:final"):
        users = re.findall(r"^USER (\S+)", stages[stage], re.M)
        assert users and users[-1] not in ("root", "0"), stage
    assert "FROM worker AS worker-gpu" in DOCKERFILES["boa"]  # inherits the worker's user
    for name, service in COMPOSE["services"].items():
        assert service.get("read_only") is True and "/tmp" in service.get("tmpfs", []), name
        assert "no-new-privileges:true" in service.get("security_opt", []), name


def test_cpu_images_take_torch_from_a_build_argument_and_keep_no_build_tools():
    text = DOCKERFILES["boa"]
    for arg in ("TORCH_VERSION", "TORCH_INDEX", "TORCH_FIND_LINKS", "PIP_INDEX_URL"):
        assert f"ARG {arg}=" in text, arg
    runtime = text.split("AS runtime", 1)[1]
    # dependencies and the package arrive as separate layers, neither with pip or a compiler
    assert "COPY --from=deps /opt/venv /opt/venv" in runtime
    assert "COPY --from=package /opt/package/ /opt/venv/" in runtime
    assert "pip uninstall -y -q pip setuptools wheel" in text.split("AS package", 1)[0]
    assert "python3-venv" not in runtime and "gcc" not in runtime and "pip install" not in runtime
    assert "PIP_NO_CACHE_DIR=1" in text.split("AS runtime", 1)[0]
    gpu_args = COMPOSE["services"]["worker-gpu"]["build"]["args"]
    assert gpu_args["TORCH_INDEX"] == "${GPU_TORCH_INDEX:-https://pypi.org/simple}"
    cpu_args = COMPOSE["services"]["worker-cpu"]["build"]["args"]
    assert cpu_args["TORCH_INDEX"] == "${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"


def test_weights_mounted_beside_baked_ones():
    volumes = COMPOSE["services"]["worker-cpu"]["volumes"]
    assert "${WEIGHTS_HOST_DIR:-./weights}:/weights:ro" in volumes
    entry = (REPO / "scripts" / "entrypoints" / "boa.sh").read_text()
    assert "/opt/boa/weights" in entry and "TOTALSEG_WEIGHTS_PATH=/weights" in entry
    assert "COPY . /opt/boa/weights/" in (REPO / "scripts" / "Dockerfile.weights").read_text()


def test_init_env_generates_secrets_and_prints_none(tmp_path):
    target = tmp_path / "env"
    result = subprocess.run(["bash", str(REPO / "scripts" / "init_env.sh"), "--file", str(target),
                             "--allowed-aets", "CT1@10.0.0.9:104"], capture_output=True, text=True, check=True)
    values = dict(line.split("=", 1) for line in target.read_text().splitlines() if line and not line.startswith("#"))
    assert set(values) == set(env_sample())
    secrets = [values[name] for name in ("ORTHANC_PASSWORD", "RABBITMQ_PASSWORD", "POSTGRES_PASSWORD", "RESULT_PATH_KEY")]
    assert all(len(v) == 64 for v in secrets) and len(set(secrets)) == 4
    assert not any(v in result.stdout + result.stderr for v in secrets)
    assert values["ORTHANC_ALLOWED_AETS"] == "CT1@10.0.0.9:104"
    assert target.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(["bash", str(REPO / "scripts" / "init_env.sh"), "--file", str(target)],
                           capture_output=True, text=True, check=True)
    assert "kept" in again.stdout and dict(line.split("=", 1) for line in target.read_text().splitlines()
                                           if line and not line.startswith("#")) == values


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
    hostnet = command[:5] + ["-f", str(REPO / "scripts" / "compose.hostnet.yml")] + command[5:]
    assert subprocess.run(hostnet, capture_output=True, text=True, env=clean_env).returncode == 0
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
