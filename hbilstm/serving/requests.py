"""Reading a ``POST /predict`` body: ``{"texts": ["...", ...]}``, checked before any scoring.

Every problem becomes an :class:`ApiError` whose message says what was wrong and where: 413 when
the request is over a limit (too many texts, a text too long, a body too large), 422 when it is
not the expected shape (malformed JSON, JSON nested too deeply or holding a number too long, a
missing field, a non-string or empty text), 408 when its body is too slow to arrive, and 503
(with ``Retry-After``) when the bodies of all requests together would hold too much memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any, AsyncIterator

from .guard import BodyBudget
from .settings import ServeSettings

MAX_DEPTH = 20  # nesting of arrays and objects; the body itself needs 2
MAX_NUMBER_CHARS = 100  # characters of one number literal (Python refuses ints over 4,300 digits)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)

EXAMPLE = '{"texts": ["what a great game!", "I hate mondays"]}'


class ApiError(Exception):
    """A request the service will not score: ``status`` (413 or 422), a short ``code`` and a
    one-line ``message`` for the client."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

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


@contextlib.asynccontextmanager
async def request_body(request: Any, limit: int, budget: BodyBudget | None = None,
                       timeout: float | None = None) -> AsyncIterator[bytes]:
    """The request body, held against ``budget`` (the bytes all requests' bodies hold at once)
    until the block ends: refused with 413 as soon as it is known to exceed ``limit`` bytes (from
    its Content-Length, or while it streams in), so a huge body is never held whole; with 408
    when it has not all arrived within ``timeout`` seconds; with 503 when ``budget`` has no room."""
    held = [0]
    try:
        yield await _read(request, limit, budget, timeout, held)
    finally:
        if budget is not None and held[0]:
            budget.give_back(held[0])


# An answer sent before the whole body was read closes the connection: the rest of the body would
# otherwise have to be read (or the connection left waiting for it).
_CLOSE = {"Connection": "close"}


async def _read(request: Any, limit: int, budget: BodyBudget | None, timeout: float | None, held: list[int]) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "body_too_large", f"the request body is {int(declared):,} bytes, more than the "
                                              f"{limit:,} that the limits on texts allow", _CLOSE)
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, size = [], 0
    stream = request.stream().__aiter__()
    while True:
        try:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = await asyncio.wait_for(stream.__anext__(), left)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            raise ApiError(408, "request_timeout", f"the request body did not arrive within {timeout:g} "
                                                   "seconds", _CLOSE) from None
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the request body is more than the {limit:,} bytes "
                                                  "that the limits on texts allow", _CLOSE)
        if budget is not None:
            if not budget.take(len(chunk)):
                raise ApiError(503, "busy", "the server is reading too many large requests at once; retry "
                                            "shortly", {"Retry-After": "1", **_CLOSE})
            held[0] += len(chunk)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; ApiError 422 when it is not JSON, nests arrays and objects
    deeper than :data:`MAX_DEPTH`, or holds a number literal longer than :data:`MAX_NUMBER_CHARS`
    characters (such bodies are cheap to send and costly, or fatal, to parse). Checked before
    any scoring."""
    depth = deepest(body)
    if depth > MAX_DEPTH:
        raise ApiError(422, "too_deep", f"the body nests arrays or objects more than {MAX_DEPTH} deep; a /predict "
                                        "body needs 2")

    def number(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise ApiError(422, "number_too_long", f"the body holds a number of {len(text):,} characters; "
                                                   f"at most {MAX_NUMBER_CHARS} are read")
        return float(text) if any(c in text for c in ".eE") else int(text)

    def constant(name: str):
        raise ApiError(422, "malformed_json", f"the body is not valid JSON: {name} is not a JSON value")

    try:
        return json.loads(body, parse_int=number, parse_float=number, parse_constant=constant)
    except UnicodeDecodeError:
        raise ApiError(422, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(422, "malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                              f"column {exc.colno}") from None
    except (RecursionError, ValueError) as exc:  # a last guard; deepest() should have caught these
        raise ApiError(422, "malformed_json", f"the body cannot be read ({type(exc).__name__})") from None


def deepest(body: bytes, most: int = MAX_DEPTH) -> int:
    """How deeply ``body`` nests arrays and objects (brackets inside strings do not count), or
    ``most + 1`` when deeper than ``most``: each round removes the innermost pairs, in time linear
    in the body, without parsing it."""
    rest = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for depth in range(most + 1):
        shorter = _INNERMOST.sub(b"", rest)
        if not rest or shorter == rest:  # all gone, or unbalanced: the parser says what is wrong
            return depth
        rest = shorter
    return most + 1


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def parse_request(body: bytes, settings: ServeSettings) -> tuple[list[str], float | None]:
    """The texts of a ``/predict`` body and its ``min_confidence`` (None when absent), or the
    :class:`ApiError` of its first problem."""
    if not body.strip():
        raise ApiError(422, "empty_body", f"the request has no body; send a JSON object such as {EXAMPLE}")
    data = parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(422, "wrong_type", f"the body must be a JSON object such as {EXAMPLE}, "
                                          f"not a JSON {json_type(data)}")
    if "texts" not in data:
        raise ApiError(422, "missing_field", f'the body has no "texts" field; send {EXAMPLE}')
    unknown = sorted(key for key in data if key not in ("texts", "min_confidence"))
    if unknown:
        raise ApiError(422, "unknown_field", f'unknown field {unknown[0]!r}: the body takes "texts" and, '
                                             'optionally, "min_confidence"')
    min_confidence = data.get("min_confidence")
    if min_confidence is not None and (isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float))
                                       or not 0 <= min_confidence <= 1):
        raise ApiError(422, "wrong_type", f'"min_confidence" must be a probability between 0 and 1, not '
                                          f"{json.dumps(min_confidence)}")
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
    return texts, min_confidence


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
