"""The options of the HTTP service, in one checked object."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class ServeSettings:
    """Limits on what one request may ask, on what all clients together may hold, and how requests
    are gathered into model calls.

    ``max_texts`` texts per request and ``max_chars`` characters per text; a request over either
    is refused with 413. Requests arriving within ``batch_window_ms`` of the oldest waiting one
    are scored together, up to ``max_batch_texts`` texts per model call (a single request larger
    than that still goes through whole, alone).

    Against slow and greedy clients (:mod:`hbilstm.serving.guard`): at most ``max_connections``
    connections are open at once (more get 503 with ``Retry-After``); a request's head must arrive
    within ``header_timeout_s`` seconds of the connection opening or falling idle (else 408), and
    its body within ``body_timeout_s`` (else 408); the bodies being read, over all connections,
    hold at most ``max_body_bytes_in_flight`` bytes (more: 503 with ``Retry-After``).
    """

    max_texts: int = 1000
    max_chars: int = 2000
    batch_window_ms: float = 5.0
    max_batch_texts: int = 1024
    max_connections: int = 2048
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_body_bytes_in_flight: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_batch_texts", "max_connections", "max_body_bytes_in_flight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")
        window = self.batch_window_ms
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 <= window <= 1000:
            raise ConfigError(f"batch window must be between 0 and 1000 ms, not {window!r}")
        for name in ("header_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
                raise ConfigError(f"{name.replace('_s', '').replace('_', ' ')} must be between 0 and 3600 "
                                  f"seconds, not {value!r}")
        if self.max_body_bytes > self.max_body_bytes_in_flight:
            raise ConfigError(f"one request may hold {self.max_body_bytes:,} bytes (--max-texts x --max-chars), more "
                              f"than the {self.max_body_bytes_in_flight:,} allowed for all requests at once; "
                              "raise --max-body-mb-in-flight or lower the others")

    @property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: every text at its limit, each character
        written as a JSON escape, plus room for the brackets and whitespace."""
        return self.max_texts * (self.max_chars * 12 + 16) + 4096

    def limits(self) -> dict[str, Any]:
        return asdict(self)


def check_address(host: str, port: int) -> None:
    """HbilstmError, before the model is loaded, when ``host:port`` cannot be listened on (a port
    in use, an address not on this machine). Port 0 (any free port) always passes."""
    import socket

    from ..errors import HbilstmError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn sets it
            probe.bind(address)
    except OSError as exc:
        raise HbilstmError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
