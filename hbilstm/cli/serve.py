"""``hbilstm serve``."""

from __future__ import annotations

import sys

import typer

from . import options
from ._app import app, user_errors


@app.command()
@user_errors
def serve(
    model: str = typer.Argument(..., metavar="MODEL", help="A run directory, a model.pt checkpoint, a model folder or a Hub repo id."),
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, metavar="PORT", help="TCP port to listen on."),
    device: str = options.device(),
    batch_size: int = options.batch_size(256),
    max_texts: int = typer.Option(1000, "--max-texts", min=1, metavar="N", help="Most texts in one request; more is refused with 413."),
    max_chars: int = typer.Option(2000, "--max-chars", min=1, metavar="N", help="Most characters in one text; a longer one is refused with 413."),
    batch_window_ms: float = typer.Option(5.0, "--batch-window-ms", min=0, max=1000, metavar="MS", help="How long a request waits for others to share its model call (0: no waiting)."),
    max_batch_texts: int = typer.Option(1024, "--max-batch-texts", min=1, metavar="N", help="Most texts gathered into one model call (a larger request still runs, alone)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log one line per request."),
) -> None:
    """Serve the model over HTTP: POST /predict, /health, /metadata.

    POST /predict takes {"texts": ["...", ...]} and answers, per text and in order, its label,
    confidence and every label's probability. Requests arriving together share one model call.
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
    from ..serving.settings import ServeSettings, check_address

    check_address(host, port)  # a port in use is one line now, not after the model has loaded
    settings = ServeSettings(max_texts=max_texts, max_chars=max_chars, batch_window_ms=batch_window_ms,
                             max_batch_texts=max_batch_texts)
    classifier = hbilstm.load(model, device=device, batch_size=batch_size)
    where = classifier.device or "cpu (ONNX Runtime)"
    print(f"serving {classifier.path} ({', '.join(classifier.labels)}) on {where}", file=sys.stderr, flush=True)
    config = uvicorn.Config(create_app(classifier, settings), host=host, port=port, access_log=access_log,
                            log_config=_log_config(uvicorn))
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C or SIGTERM, then re-raises the signal
        pass


def _log_config(uvicorn) -> dict:
    """uvicorn's logging, with the service's own log lines (errors, start-up) printed alike."""
    import copy

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["hbilstm"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
