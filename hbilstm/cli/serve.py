"""``hbilstm serve``."""

from __future__ import annotations

import sys

import typer

from ..serving.settings import ServeSettings
from . import options
from ._app import app, user_errors


@app.command()
@user_errors
def serve(
    model: str = options.model(hub=True),
    host: str = typer.Option(
        "127.0.0.1", "--host", metavar="ADDRESS",
        help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, metavar="PORT", help="TCP port to listen on."),
    device: str = options.device(),
    batch_size: int = options.batch_size(256),
    max_texts: int = options.service_option("max_texts", "N", "Most texts in one request; more is refused with 413.",
                                            min=1),
    max_chars: int = options.service_option("max_chars", "N", "Most characters in one text; a longer one is refused "
                                            "with 413.", min=1),
    batch_window_ms: float = options.service_option("batch_window_ms", "MS", "How long a request waits for others to "
                                                    "share its model call (0: no waiting).", min=0, max=1000),
    max_batch_texts: int = options.service_option("max_batch_texts", "N", "Most texts gathered into one model call (a "
                                                  "larger request still runs, alone).", min=1),
    max_connections: int = options.service_option("max_connections", "N", "Most connections open at once; more are "
                                                  "answered 503 with Retry-After.", min=1),
    header_timeout: float = options.service_option("header_timeout_s", "S", "Seconds a connection may take to send a "
                                                   "request's head (408 after).", "--header-timeout", min=0.001,
                                                   max=3600),
    body_timeout: float = options.service_option("body_timeout_s", "S", "Seconds a request may take to send its body "
                                                 "(408 after).", "--body-timeout", min=0.001, max=3600),
    max_body_mb_in_flight: int = typer.Option(
        ServeSettings().max_body_bytes_in_flight >> 20, "--max-body-mb-in-flight", min=1, metavar="MB",
        help="Most MiB of request bodies held at once over all connections; more: 503 with Retry-After."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
) -> None:
    """Serve the model over HTTP: POST /predict, /health, /metadata.

    POST /predict takes {"texts": ["...", ...]} and answers, per text and in order, its label,
    confidence and every label's probability. Requests arriving together share one model call.
    Slow, greedy or too many clients are refused (408, 503) rather than let to starve it.
    Stop the server with Ctrl-C.

    Examples:

    \b
      hbilstm serve runs/first
      hbilstm serve models/first --host 0.0.0.0 --port 8080 --max-texts 100
      curl -s localhost:8000/predict -d '{"texts": ["what a great game!"]}'
    """
    from ..errors import HbilstmError

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise HbilstmError('hbilstm serve needs fastapi and uvicorn: pip install "hbilstm[serve]"') from None

    import hbilstm

    from ..serving.app import create_app
    from ..serving.guard import server_config
    from ..serving.settings import check_address

    check_address(host, port)  # a port in use is one line now, not after the model has loaded
    settings = ServeSettings(max_texts=max_texts, max_chars=max_chars, batch_window_ms=batch_window_ms,
                             max_batch_texts=max_batch_texts, max_connections=max_connections,
                             header_timeout_s=header_timeout, body_timeout_s=body_timeout,
                             max_body_bytes_in_flight=max_body_mb_in_flight << 20)
    classifier = hbilstm.load(model, device=device, batch_size=batch_size)
    where = classifier.device or "cpu (ONNX Runtime)"
    print(f"serving {classifier.path} ({', '.join(classifier.labels)}) on {where}", file=sys.stderr, flush=True)
    config = server_config(create_app(classifier, settings), settings, host, port, access_log=access_log,
                           log_config=_log_config(uvicorn))
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C or SIGTERM, then re-raises the signal
        pass


def _log_config(uvicorn) -> dict:
    """uvicorn's logging, with the service's own log lines (errors, start-up) printed alike, and
    errors and warnings of each kind printed once a minute at most (a flood of bad connections
    would otherwise fill the log: hbilstm.serving.guard.OncePerInterval)."""
    import copy

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["once"] = {"()": "hbilstm.serving.guard.OncePerInterval", "interval": 60.0}
    config["handlers"]["default"]["filters"] = ["once"]
    config["loggers"]["hbilstm"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["loggers"]["asyncio"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
