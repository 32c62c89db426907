"""Reading a ``POST /predict`` body: ``{"texts": ["...", ...]}``, checked before any scoring.

Every problem becomes an :class:`ApiError` whose message says what was wrong and where: 413 when
the request is over a limit (too many texts, a text too long, a body too large), 422 when it is
not the expected shape (malformed JSON, a missing field, a non-string or empty text).
"""

from __future__ import annotations

import json
from typing import Any

from .settings import ServeSettings

EXAMPLE = '{"texts": ["what a great game!", "I hate mondays"]}'


class ApiError(Exception):
    """A request the service will not score: ``status`` (413 or 422), a short ``code`` and a
    one-line ``message`` for the client."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


def json_type(value: Any) -> str:
    """What JSON calls the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes
    (from its Content-Length, or while it streams in), so a huge body is never held whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is {int(declared):,} bytes, more than the "
                                              f"{limit:,} that the limits on texts allow")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the request body is more than the {limit:,} bytes "
                                                  "that the limits on texts allow")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_texts(body: bytes, settings: ServeSettings) -> list[str]:
    """The texts of a ``/predict`` body, or the :class:`ApiError` of its first problem."""
    if not body.strip():
        raise ApiError(422, "empty_body", f"the request has no body; send a JSON object such as {EXAMPLE}")
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(422, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(422, "malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                              f"column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "wrong_type", f"the body must be a JSON object such as {EXAMPLE}, "
                                          f"not a JSON {json_type(data)}")
    if "texts" not in data:
        raise ApiError(422, "missing_field", f'the body has no "texts" field; send {EXAMPLE}')
    unknown = sorted(key for key in data if key != "texts")
    if unknown:
        raise ApiError(422, "unknown_field", f'unknown field {unknown[0]!r}: the body takes only "texts"')
    texts = data["texts"]
    if isinstance(texts, str):
        raise ApiError(422, "wrong_type", '"texts" must be an array of strings, not one string: '
                                          'wrap it as ["..."]')
    if not isinstance(texts, list):
        raise ApiError(422, "wrong_type", f'"texts" must be an array of strings, not a JSON {json_type(texts)}')
    if not texts:
        raise ApiError(422, "no_texts", '"texts" is empty: send at least one text')
    if len(texts) > settings.max_texts:
        raise ApiError(413, "too_many_texts", f"too many texts: {len(texts):,} in one request, at most "
                                              f"{settings.max_texts:,}; split them over several requests")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ApiError(422, "wrong_type", f"texts[{i}] is a JSON {json_type(text)}, not a string")
        if len(text) > settings.max_chars:
            raise ApiError(413, "text_too_long", f"texts[{i}] is too long: {len(text):,} characters, at most "
                                                 f"{settings.max_chars:,}")
        if not text.strip():
            raise ApiError(422, "empty_text", f"texts[{i}] is empty (or only whitespace): there is nothing "
                                              "to score; remove it")
        if _has_lone_surrogate(text):
            raise ApiError(422, "bad_text", f"texts[{i}] holds an unpaired UTF-16 surrogate escape, which is "
                                            "not a character")
    return texts


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
