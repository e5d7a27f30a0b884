"""SMB share sink (smbprotocol): the workbook, the PDF report, the preview and the manifest.

Files go to ``\\\\HOST\\SHARE\\DIRECTORY\\AET\\<study>\\<series>\\``; each is
written under a temporary name and renamed over the final one, so a repeat
delivery replaces instead of duplicating.
"""

from __future__ import annotations

import fnmatch
import uuid
from pathlib import Path, PurePosixPath

from body_organ_analysis.pacs.paths import safe_part
from body_organ_analysis.pacs.sinks.base import Delivery, DeliveryError, RetryableDeliveryError

SMB_FILE_PATTERNS = ("*.xlsx", "*.pdf", "*.png", "manifest.json", "*-manifest.json")


def files_for_smb(result_dir: Path) -> list[Path]:
    return sorted(
        p for p in Path(result_dir).iterdir()
        if p.is_file() and any(fnmatch.fnmatch(p.name, pattern) for pattern in SMB_FILE_PATTERNS)
    )


class SmbSink:
    name = "smb"

    def __init__(self, host: str, share: str, username: str, password: str,
                 port: int = 445, directory: str = "", timeout_s: int = 30) -> None:
        self.host, self.share, self.port = host, share, port
        self.username, self.password, self.timeout_s = username, password, timeout_s
        self.directory = [safe_part(p) for p in PurePosixPath(directory.replace("\\", "/")).parts if p not in ("/", "")]

    def _unc(self, parts: list[str]) -> str:
        return "\\\\" + "\\".join([self.host, self.share, *parts])

    def deliver(self, delivery: Delivery) -> None:
        import smbclient
        from smbprotocol.exceptions import SMBAuthenticationError, SMBException

        parts = [*self.directory, *(safe_part(p) for p in delivery.destination.split("/"))]
        try:
            smbclient.register_session(self.host, self.username, self.password,
                                       port=self.port, connection_timeout=self.timeout_s)
            smbclient.makedirs(self._unc(parts), exist_ok=True, port=self.port)
            for path in files_for_smb(delivery.result_dir):
                final = self._unc([*parts, path.name])
                temporary = self._unc([*parts, f".{path.name}.{uuid.uuid4().hex}.part"])
                with open(path, "rb") as source, smbclient.open_file(temporary, mode="wb", port=self.port) as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
                smbclient.replace(temporary, final, port=self.port)
        except SMBAuthenticationError:
            raise DeliveryError(f"SMB {self.host}: authentication failed; check SMB_USERNAME/SMB_PASSWORD") from None
        except (SMBException, OSError, ValueError) as error:
            smbclient.reset_connection_cache()  # a broken cached connection must not outlive the outage
            # the library's message names the share path (the destination): keep the kind of error only
            raise RetryableDeliveryError(f"SMB {self.host}:{self.port}: {_kind(error)}") from None


def _kind(error: BaseException) -> str:
    """The error's class and, for system errors, its errno name: never its message."""
    import errno

    number = getattr(error, "errno", None)
    name = errno.errorcode.get(number, "") if isinstance(number, int) else ""
    return f"{type(error).__name__} {name}".strip()
