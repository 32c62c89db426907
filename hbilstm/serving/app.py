"""The FastAPI application of ``hbilstm serve``.

* ``POST /predict`` ``{"texts": [...]}`` -> ``{"predictions": [{"label", "confidence",
  "probabilities": {label: p}}, ...]}``, one per text, in order;
* ``GET /health`` -> ``{"status": "ok", "model_loaded": true, "batching": {...counters}}``;
* ``GET /metadata`` -> labels, the model card's facts, the hbilstm version and the limits.

Errors are JSON ``{"error": code, "message": text}``: 413 over a limit, 422 a malformed request,
408 a request too slow to arrive, 404/405 an unknown route or method, 503 (with ``Retry-After``)
when too many connections or large bodies are open at once and while shutting down, and a
generic 500 (logged with its traceback on the server, never sent) for anything unexpected. The
limits on connections and slow clients are enforced by the server's protocol
(:mod:`hbilstm.serving.guard`); serve the app with :func:`~hbilstm.serving.guard.server_config`.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..confidence import UNCERTAIN, label_of
from .batcher import BatcherStopped, MicroBatcher
from .guard import BodyBudget
from .metadata import describe
from .requests import EXAMPLE, ApiError, parse_request, request_body
from .settings import ServeSettings

log = logging.getLogger("hbilstm.serving")

_INTERNAL = {"error": "internal_error",
             "message": "the server failed to answer this request; the details are in its log"}
_PREDICT_BODY = {
    "required": True,
    "content": {"application/json": {
        "schema": {
            "type": "object", "required": ["texts"], "additionalProperties": False,
            "properties": {"texts": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                           "min_confidence": {"type": "number", "minimum": 0, "maximum": 1,
                                              "description": f"label texts whose top probability is below it "
                                                             f"{UNCERTAIN!r}, keeping their probabilities"}},
        },
        "example": {"texts": ["what a great game!", "I hate mondays"]},
    }},
}
_ERRORS = {408: {"description": "The request body did not arrive in time"},
           413: {"description": "Too many texts, a text too long, or a body too large"},
           422: {"description": "Malformed JSON (or nested too deeply), a missing or unknown field, a non-string or "
                                "empty text"},
           503: {"description": "Too many large requests at once (retry after Retry-After seconds), or shutting down"}}


def create_app(classifier: Any, settings: ServeSettings | None = None) -> FastAPI:
    """The service for ``classifier`` (a :class:`hbilstm.api.Classifier`, or anything with
    ``labels`` and ``predict_proba``). ``app.state.batcher`` holds the micro-batcher and its
    counters. The batcher starts and stops with the server (the lifespan events)."""
    settings = settings or ServeSettings()
    labels = list(classifier.labels)
    batcher = MicroBatcher(classifier.predict_proba, window_ms=settings.batch_window_ms,
                           max_batch_texts=settings.max_batch_texts)
    metadata = describe(classifier, settings)
    budget = BodyBudget(settings.max_body_bytes_in_flight)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        log.info("hbilstm serve: model ready, labels %s", ", ".join(labels))
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="hbilstm",
        version=__version__,
        description="Tweet sentiment with a Highway BiLSTM model. POST /predict with " + EXAMPLE,
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    app.state.settings = settings
    app.state.classifier = classifier
    app.state.body_budget = budget
    app.add_middleware(CatchAll)
    _add_error_handlers(app)

    @app.post("/predict", openapi_extra={"requestBody": _PREDICT_BODY}, responses=_ERRORS)
    async def predict(request: Request) -> JSONResponse:
        """Label each text: its label, the label's probability and every label's probability."""
        async with budget.answering():
            async with request_body(request, settings.max_body_bytes, budget, settings.body_timeout_s) as body:
                texts, min_confidence = parse_request(body, settings)
            if min_confidence is not None and UNCERTAIN in labels:
                raise ApiError(422, "unsupported", f'"min_confidence" labels unsure texts {UNCERTAIN!r}, which is '
                                                   "one of this model's classes")
            try:
                probs = await batcher.score(texts)
            except BatcherStopped as exc:
                return JSONResponse({"error": "shutting_down", "message": str(exc)}, status_code=503)
            return JSONResponse({"predictions": predictions(probs, labels, min_confidence)})

    @app.get("/health")
    async def health() -> JSONResponse:
        """Whether the service is up with its model, and how requests have been batched."""
        return JSONResponse({"status": "ok", "model_loaded": True, "batching": batcher.snapshot()})

    @app.get("/metadata")
    async def get_metadata() -> JSONResponse:
        """The labels, the model card's facts, the hbilstm version and the request limits."""
        return JSONResponse(metadata)

    return app


def predictions(probs: np.ndarray, labels: list[str], min_confidence: float | None = None) -> list[dict[str, Any]]:
    """One ``{"label", "confidence", "probabilities"}`` per row of ``probs``; the label is
    ``uncertain`` where the confidence is below ``min_confidence`` (:mod:`hbilstm.confidence`)."""
    return [{"label": label_of(row, labels, min_confidence), "confidence": max(row),
             "probabilities": dict(zip(labels, row))} for row in np.asarray(probs).tolist()]


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = {404: f"no such route: {request.url.path} (try /predict, /health, /metadata or /docs)",
                   405: f"{request.url.path} does not take {request.method}"}.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": code, "message": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"error": "invalid_request", "message": message}, status_code=422)


class CatchAll:
    """Anything unexpected becomes a generic JSON 500; the traceback goes to the log only."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for another response; the server closes the connection
                raise
            await JSONResponse(_INTERNAL, status_code=500)(scope, receive, send)
