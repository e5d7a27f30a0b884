"""Test harness: a real Orthanc (DICOMweb plugin only) in a loopback-only network namespace.

Orthanc 1.10 listens on every address, so it runs in a private network
namespace that has nothing but loopback. :func:`loopback_namespace` moves the
calling thread (the test) into a new such namespace and back afterwards, so the
test talks to Orthanc on 127.0.0.1 and no port is ever open on the host.
Needs root (CAP_SYS_ADMIN); callers skip otherwise.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

CLONE_NEWNET = 0x40000000
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER, PASSWORD = "boa", "boa-test-password"


def available() -> str | None:
    """Why the services cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for a private network namespace"
    if not (Path(ORTHANC).exists() and Path(DICOMWEB_PLUGIN).exists()):
        return "Orthanc with the DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)"
    return None


@contextmanager
def loopback_namespace() -> Iterator[None]:
    """Run the calling thread (and processes it starts) in a new namespace with only loopback."""
    libc = ctypes.CDLL(None, use_errno=True)
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
        try:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            yield
        finally:
            if libc.setns(original, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original network namespace failed")
    finally:
        os.close(original)


@dataclass
class Orthanc:
    process: subprocess.Popen
    http_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.url}{path}", auth=(USER, PASSWORD), timeout=10, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_orthanc(folder: Path, http_port: int = 8042, dicom_port: int = 4242) -> Orthanc:
    """Start Orthanc with its own configuration under ``folder``; wait until it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "BOA-TEST",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": "BOATEST",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [DICOMWEB_PLUGIN],
        "OverwriteInstances": True,
        "HttpCompressionEnabled": False,  # loopback: gzip of a 17 MB SEG only costs time
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log_path = folder / "orthanc.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [ORTHANC, str(config_path)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Orthanc(process, http_port, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start:\n{log_path.read_text()[-3000:]}")
        try:
            if server.get("/system").ok:
                return server
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer within 30 s:\n{log_path.read_text()[-3000:]}")
