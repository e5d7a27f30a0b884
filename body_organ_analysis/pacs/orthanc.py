"""A small client for Orthanc's REST API (requests), with timeouts on every call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from body_organ_analysis.pacs.sinks.base import RetryableDeliveryError


class OrthancUnavailable(RetryableDeliveryError):
    """Orthanc could not be reached or answered 5xx; try again later."""


class Orthanc:
    def __init__(self, url: str, username: str, password: str, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.auth = (username, password)

    def _request(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(
                method, f"{self.url}{path}", timeout=timeout or self.timeout_s, **kwargs
            )
        except requests.RequestException as error:
            raise OrthancUnavailable(f"Orthanc {method} {path}: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise OrthancUnavailable(f"Orthanc {method} {path}: HTTP {response.status_code}")
        response.raise_for_status()
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params or None).json()

    def changes(self, since: int, limit: int = 100) -> dict[str, Any]:
        return self.get("/changes", since=since, limit=limit)

    def all_series(self) -> list[str]:
        return self.get("/series")

    def series(self, series_id: str) -> dict[str, Any]:
        return self.get(f"/series/{series_id}")

    def study(self, study_id: str) -> dict[str, Any]:
        return self.get(f"/studies/{study_id}")

    def instance_tags(self, instance_id: str) -> dict[str, Any]:
        """Simplified tags of one instance (keyword -> value)."""
        return self.get(f"/instances/{instance_id}/simplified-tags")

    def instance_metadata(self, instance_id: str, name: str) -> str | None:
        try:
            return self._request("GET", f"/instances/{instance_id}/metadata/{name}").text
        except requests.HTTPError:
            return None

    def exists(self, series_id: str) -> bool:
        try:
            self._request("GET", f"/series/{series_id}")
            return True
        except requests.HTTPError:
            return False

    def download_series(self, series_id: str, target: Path, timeout_s: float) -> Path:
        """The whole series as one zip (streamed to ``target``), within ``timeout_s`` per read."""
        target.parent.mkdir(parents=True, exist_ok=True)
        response = self._request("GET", f"/series/{series_id}/archive", timeout=timeout_s, stream=True)
        try:
            with response, open(target, "wb") as out:
                for chunk in response.iter_content(1 << 20):
                    out.write(chunk)
        except requests.RequestException as error:  # connection lost or read timeout mid-download
            raise OrthancUnavailable(f"Orthanc download of series {series_id}: {type(error).__name__}") from error
        return target

    def delete_series(self, series_id: str) -> None:
        try:
            self._request("DELETE", f"/series/{series_id}")
        except requests.HTTPError as error:
            if error.response is None or error.response.status_code != 404:
                raise
