"""Exceptions of the domain core.

CityTrafficError
├── NetworkError        a network file or model is inconsistent (lists every problem)
└── PayloadError        an MQTT payload cannot be accepted (carries a short reason code)
"""

from __future__ import annotations


class CityTrafficError(Exception):
    """Base class of citytraffic's own errors."""


class NetworkError(CityTrafficError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid network:\n  - " + "\n  - ".join(problems))


class PayloadError(CityTrafficError):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
