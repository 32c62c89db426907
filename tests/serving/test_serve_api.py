"""``hbilstm serve``'s HTTP API on a real uvicorn server and real tweets, against ``Classifier``."""

from __future__ import annotations

import json
import logging
import threading

import httpx
import numpy as np
import pytest
from serve_helpers import running, tweets

import hbilstm
from hbilstm.serving.app import create_app
from hbilstm.serving.metadata import describe
from hbilstm.serving.settings import ServeSettings


@pytest.fixture(scope="module")
def clf(trained_run):
    return hbilstm.load(trained_run, device="cpu", batch_size=64)


@pytest.fixture(scope="module")
def small_limits_server(clf):
    """One server shared by the error tests: at most 5 texts of 50 characters per request."""
    app = create_app(clf, ServeSettings(max_texts=5, max_chars=50, batch_window_ms=1))
    with running(app) as url:
        yield app, url


def check_predictions(answer: dict, texts: list[str], clf) -> None:
    """Each text's label, confidence and probabilities equal the Classifier's, in order."""
    rows = answer["predictions"]
    assert len(rows) == len(texts)
    expected = clf.predict_proba(texts)
    labels = clf.predict(texts)
    got = np.array([[row["probabilities"][name] for name in clf.labels] for row in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert [row["label"] for row in rows] == labels
    for row in rows:
        assert list(row["probabilities"]) == clf.labels
        assert row["confidence"] == max(row["probabilities"].values())
        assert row["probabilities"][row["label"]] == row["confidence"]


def test_predict_answers_like_the_classifier_in_order(clf):
    texts = tweets(40)
    with running(create_app(clf)) as url:
        answer = httpx.post(f"{url}/predict", json={"texts": texts}, timeout=30)
        assert answer.status_code == 200, answer.text
        check_predictions(answer.json(), texts, clf)
        # the same texts reversed come back reversed: rows follow the request, not a sort
        again = httpx.post(f"{url}/predict", json={"texts": texts[::-1]}, timeout=30).json()["predictions"]
        assert again == answer.json()["predictions"][::-1]
    assert len({row["label"] for row in answer.json()["predictions"]}) > 1  # a real mix, not one class


def test_concurrent_requests_share_model_calls_and_get_their_own_rows(clf):
    app = create_app(clf, ServeSettings(batch_window_ms=100))
    requests = [tweets(1 + i % 5, start=10 * i) for i in range(16)]
    answers: list = [None] * len(requests)
    gate = threading.Barrier(len(requests))

    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        def ask(i: int) -> None:
            gate.wait()
            answers[i] = client.post("/predict", json={"texts": requests[i]})

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(requests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        health = client.get("/health").json()

    for texts, answer in zip(requests, answers):
        assert answer is not None and answer.status_code == 200, answer
        check_predictions(answer.json(), texts, clf)
    stats = health["batching"]
    assert stats["requests"] == 16 and stats["texts"] == sum(map(len, requests))
    assert stats["model_calls"] < 16, stats           # requests were scored together...
    assert stats["largest_batch"] > max(map(len, requests)), stats  # ...several in one call
    assert app.state.batcher.snapshot() == stats


def test_health_and_metadata(clf, trained_run):
    with running(create_app(clf, ServeSettings(max_texts=7, max_chars=99))) as url:
        health = httpx.get(f"{url}/health").json()
        meta = httpx.get(f"{url}/metadata").json()
    assert health["status"] == "ok" and health["model_loaded"] is True
    assert health["batching"]["model_calls"] == 0

    assert meta["labels"] == ["negative", "neutral", "positive"] == clf.labels
    assert meta["hbilstm_version"] == hbilstm.__version__
    assert meta["limits"]["max_texts"] == 7 and meta["limits"]["max_chars"] == 99
    card = meta["model"]
    results = json.loads((trained_run / "results.json").read_text())
    assert card["name"] == "hbilstm 2x highway BiLSTM (tweeteval-sentiment)"
    assert card["dataset"] == "tweeteval-sentiment" and card["labels"] == clf.labels
    assert card["scores"]["test"]["macro_recall"] == results["test"]["macro_recall"]
    assert card["parameters"] == results["parameters"] and card["best_epoch"] == results["best_epoch"]


def test_metadata_of_an_exported_model_folder_is_that_of_its_run(clf, tmp_path):
    pytest.importorskip("safetensors")
    exported = hbilstm.load(clf.save_pretrained(tmp_path / "model", onnx=False), device="cpu")
    assert isinstance(exported.model.payload.get("card"), dict)  # read from its config.json
    settings = ServeSettings()
    assert describe(exported, settings)["model"] == describe(clf, settings)["model"]


LONG = "a" * 51
BAD_REQUESTS = [
    # body, status, error code, a phrase of the message
    ({"texts": ["good"] * 6}, 413, "too_many_texts", "6 in one request, at most 5"),
    ({"texts": ["fine", LONG]}, 413, "text_too_long", "texts[1] is too long: 51 characters, at most 50"),
    ({"texts": ["fine", "  \n"]}, 422, "empty_text", "texts[1] is empty"),
    ({"texts": ["fine", ""]}, 422, "empty_text", "texts[1] is empty"),
    ({"texts": ["fine", 3]}, 422, "wrong_type", "texts[1] is a JSON number, not a string"),
    ({"texts": [None]}, 422, "wrong_type", "texts[0] is a JSON null"),
    ({"texts": "one tweet"}, 422, "wrong_type", "not one string"),
    ({"texts": {"a": "b"}}, 422, "wrong_type", "not a JSON object"),
    ({"texts": []}, 422, "no_texts", '"texts" is empty'),
    ({"text": ["hello"]}, 422, "missing_field", 'no "texts" field'),
    ({"texts": ["hi"], "lang": "en"}, 422, "unknown_field", "unknown field 'lang'"),
    (["hello"], 422, "wrong_type", "not a JSON array"),
    (b'{"texts": ["unclosed"', 422, "malformed_json", "not valid JSON"),
    (b"texts=hello", 422, "malformed_json", "not valid JSON"),
    (b"", 422, "empty_body", "has no body"),
    (b'{"texts": ["\\ud800"]}', 422, "bad_text", "texts[0] holds an unpaired"),
    (b'{"texts": ["caf\xe9"]}', 422, "malformed_json", "not UTF-8"),
    # small bodies that are costly or fatal to parse (each was a 500 before)
    (b"[" * 2000 + b"]" * 2000, 422, "too_deep", "more than 20 deep"),
    (b'{"texts": ["a"], "x": ' + b"[" * 1500 + b"]" * 1500 + b"}", 422, "too_deep", "more than 20 deep"),
    (b'{"texts": ["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["], "x": 1}', 422, "unknown_field", "unknown field 'x'"),
    (b'{"texts": ["hi"], "n": ' + b"9" * 5000 + b"}", 422, "number_too_long", "a number of 5,000 characters"),
    (b'{"texts": [' + b"1" * 4400 + b"]}", 422, "number_too_long", "a number of 4,400 characters"),
    (b'{"texts": ["hi"], "n": NaN}', 422, "malformed_json", "NaN is not a JSON value"),
]


@pytest.mark.parametrize("body, status, code, phrase", BAD_REQUESTS, ids=[c for _, _, c, _ in BAD_REQUESTS])
def test_every_bad_request_is_a_clear_4xx(small_limits_server, body, status, code, phrase):
    app, url = small_limits_server
    calls = app.state.batcher.snapshot()["model_calls"]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(f"{url}/predict", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == code
    assert phrase in answer.json()["message"], answer.json()
    assert "Traceback" not in answer.text and "File \"" not in answer.text
    assert app.state.batcher.snapshot()["model_calls"] == calls  # refused before the model


def test_a_body_too_large_for_the_limits_is_refused_unread(small_limits_server):
    app, url = small_limits_server
    limit = app.state.settings.max_body_bytes
    answer = httpx.post(f"{url}/predict", content=b" " * (limit + 1))
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"
    assert f"{limit:,}" in answer.json()["message"]


def test_unknown_routes_and_methods_are_json_errors(small_limits_server):
    _, url = small_limits_server
    missing = httpx.get(f"{url}/predictions")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.get(f"{url}/predict")
    assert wrong.status_code == 405 and wrong.json()["message"] == "/predict does not take GET"
    # the server is still fine after all the bad requests
    assert httpx.post(f"{url}/predict", json={"texts": ["so good"]}).status_code == 200


class Broken:
    """A model that fails the way a bug would."""

    labels = ["negative", "positive"]
    path = "nowhere"

    def predict_proba(self, texts):
        raise RuntimeError("secret internal detail /home/someone/model.pt")


def test_an_unexpected_failure_is_a_generic_500_logged_with_its_traceback(caplog):
    with caplog.at_level(logging.ERROR, logger="hbilstm.serving"), running(create_app(Broken())) as url:
        answer = httpx.post(f"{url}/predict", json={"texts": ["hello", "world"]})
        health = httpx.get(f"{url}/health")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal_error",
                             "message": "the server failed to answer this request; the details are in its log"}
    assert "secret" not in answer.text and "Traceback" not in answer.text
    assert health.status_code == 200  # and it keeps serving
    logged = [r for r in caplog.records if r.name == "hbilstm.serving" and r.exc_info]
    assert logged and "secret internal detail" in str(logged[0].exc_info[1])


def test_serve_takes_min_confidence_per_request(trained_run):
    clf = hbilstm.load(trained_run, device="cpu")
    texts = tweets(40)
    p = float(np.median(clf.predict_proba(texts).max(axis=1)))  # about half below
    with running(create_app(clf)) as url:
        answer = httpx.post(f"{url}/predict", json={"texts": texts, "min_confidence": p}, timeout=30)
        bad = httpx.post(f"{url}/predict", json={"texts": texts, "min_confidence": "high"}, timeout=30)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    probs = clf.predict_proba(texts)
    assert [r["label"] for r in rows] == clf.predict(texts, min_confidence=p)
    assert "uncertain" in {r["label"] for r in rows}
    np.testing.assert_allclose([[r["probabilities"][k] for k in clf.labels] for r in rows], probs, atol=1e-6)
    assert bad.status_code == 422 and "min_confidence" in bad.json()["message"]
