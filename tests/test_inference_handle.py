"""One handle for every source and backend: ``hbilstm.loading.load`` gives a ``Model`` that
scores alike, with its encoder, whatever the model was loaded from."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import TWEETEVAL

from hbilstm.inference import Model
from hbilstm.loading import load

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def sources(trained_run, tmp_path_factory):
    """The tiny run as every kind of source: its directory with and without a current export,
    its model.pt, a model folder, and a model.pt with its graph beside it."""
    from hbilstm.export.exporter import export_model
    from hbilstm.export.onnx import export_onnx
    from hbilstm.export.run_export import export_run

    root = tmp_path_factory.mktemp("handle")
    run = root / "run"
    shutil.copytree(trained_run, run)
    export_run(run)
    folder = export_model(trained_run, root / "folder", onnx=True)
    beside = root / "beside"
    beside.mkdir()
    shutil.copy(trained_run / "model.pt", beside / "model.pt")
    export_onnx(load(beside / "model.pt", "torch", "cpu").model, beside / "model.onnx")
    return {"run": run, "plain run": trained_run, "model.pt": trained_run / "model.pt", "folder": folder,
            "beside": beside / "model.pt"}


CASES = [  # source, backend asked, backend that scores, the graph comes from an exported folder
    ("plain run", "auto", "torch", False), ("run", "auto", "onnx", True), ("run", "torch", "torch", False),
    ("model.pt", "auto", "torch", False), ("folder", "auto", "onnx", True), ("folder", "torch", "torch", False),
    ("beside", "onnx", "onnx", False),
]


@pytest.mark.parametrize("source, asked, scores, from_folder", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_every_source_and_backend_gives_one_model_type_that_scores_alike(sources, source, asked, scores,
                                                                         from_folder):
    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:200]
    reference = load(sources["plain run"], "torch", "cpu").predict_probs(texts)
    model = load(sources[source], asked, "cpu")
    assert type(model) is Model and model.backend == scores
    assert (model.graph is not None) == (scores == "onnx") and (model.source is not None) == from_folder
    assert model.label_names == ["negative", "neutral", "positive"] and len(model.vocab) > 100
    encoded = model.encoder.encode(texts)
    assert len(encoded.ids) == 200 and all(len(ids) <= model.max_tokens for ids in encoded.ids)
    probs = model.predict_probs(texts)
    assert probs.shape == (200, 3) and np.abs(probs - reference).max() < 1e-5
    assert np.array_equal(model.score(encoded), probs)
