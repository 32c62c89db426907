"""``hbilstm ensemble``: several models as one that averages their probabilities."""

import json

import pytest
import torch
from typer.testing import CliRunner

from hbilstm.checkpoint import load_model
from hbilstm.cli import app
from hbilstm.config import TrainConfig
from hbilstm.export.ensemble import make_ensemble
from hbilstm.inference import predict_probs
from hbilstm.training import train

runner = CliRunner()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, data_dir):
    """Two more seeds of a small model on the shared slice (the same vocabulary as each other)."""
    root = tmp_path_factory.mktemp("seeds")
    runs = []
    for seed in (1, 2):
        run = root / f"s{seed}"
        train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                          seed=seed), run)
        runs.append(run)
    return runs


def test_the_ensemble_scores_the_mean_of_its_members_probabilities(seeds, tmp_path):
    path = make_ensemble(seeds, tmp_path / "ens")
    ensemble = load_model(tmp_path / "ens")
    assert path == tmp_path / "ens" / "model.pt" and len(ensemble.model.members) == 2
    ids, ngrams = [[5, 6, 7, 8], [9], [10, 11]], [[3, 900, 77], [12], [0]]  # both members have the n-gram classifier
    device = torch.device("cpu")
    members = [predict_probs(load_model(run).model, ids, 8, device, ngrams=ngrams) for run in seeds]
    got = predict_probs(ensemble.model, ids, 8, device, ngrams=ngrams)
    assert torch.allclose(got, (members[0] + members[1]) / 2, atol=1e-6)
    assert not torch.allclose(members[0], members[1])  # the members do differ
    listed = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    assert [m["path"] for m in listed["members"]] == [str(run / "model.pt") for run in seeds]


def test_every_command_takes_an_ensemble(seeds, tmp_path, data_dir):
    result = runner.invoke(app, ["ensemble", *map(str, seeds), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 0, result.output
    source = tmp_path / "in.txt"
    source.write_text("what a great game\nworst service ever\n", encoding="utf-8")
    predicted = runner.invoke(app, ["predict", str(tmp_path / "ens"), str(source), "--workers", "0"])
    assert predicted.exit_code == 0 and len(predicted.stdout.strip().splitlines()) == 3
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "ens"), "--data-dir", str(data_dir)])
    assert evaluated.exit_code == 0, evaluated.output
    exported = runner.invoke(app, ["export", str(tmp_path / "ens"), str(tmp_path / "folder"), "--no-onnx"])
    assert exported.exit_code == 0, exported.output
    again = load_model(tmp_path / "folder")
    assert len(again.model.members) == 2
    assert "ensemble of 2" in (tmp_path / "folder" / "README.md").read_text()
    refused = runner.invoke(app, ["export", str(tmp_path / "ens"), str(tmp_path / "folder2")])
    assert refused.exit_code == 2 and "--no-onnx" in refused.stderr
    analysed = runner.invoke(
        app, ["analyze", str(tmp_path / "ens"), "-o", str(tmp_path / "a"), "--data-dir", str(data_dir)]
    )
    assert analysed.exit_code == 2 and "analyze one of its members" in analysed.stderr
    assert not (tmp_path / "a").exists()  # it once left the empty folder behind


def test_members_that_read_text_differently_are_refused(seeds, tmp_path, data_dir, trained_run):
    other = tmp_path / "other"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=3), other)
    result = runner.invoke(app, ["ensemble", str(seeds[0]), str(other), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 2 and "vocabulary differ" in result.stderr
    result = runner.invoke(app, ["ensemble", str(seeds[0]), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 2 and "at least two models" in result.stderr


def test_members_hashing_ngrams_into_other_bucket_counts_are_refused_but_one_without_is_welcome(
    seeds, tmp_path, data_dir
):
    settings = dict(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1, seed=1)
    fewer, without = tmp_path / "fewer", tmp_path / "without"
    train(TrainConfig(**settings, ngram_buckets=1024), fewer)
    train(TrainConfig(**settings, ngram_buckets=0), without)
    result = runner.invoke(app, ["ensemble", str(seeds[0]), str(fewer), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 2 and "different numbers of buckets (1,024, 262,144)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "ens").exists()
    worded = tmp_path / "worded"  # the same buckets, but pairs of words hashed into them too
    train(TrainConfig(**settings, ngram_words=2), worded)
    result = runner.invoke(app, ["ensemble", str(seeds[0]), str(worded), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 2 and "different numbers of words (ngram_words 0, 2)" in result.stderr
    assert not (tmp_path / "ens").exists()
    # a member without the n-gram classifier joins one with it: each is called with what it reads
    result = runner.invoke(app, ["ensemble", str(seeds[0]), str(without), "-o", str(tmp_path / "mixed")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "mixed"), "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output


def test_an_ensemble_as_a_member_or_a_members_folder_as_the_output_is_refused(seeds, tmp_path):
    import shutil

    make_ensemble(seeds, tmp_path / "ens")
    result = runner.invoke(app, ["ensemble", str(tmp_path / "ens"), str(seeds[0]), "-o", str(tmp_path / "nested")])
    assert result.exit_code == 2, result.output  # was a traceback (load_state_dict)
    assert result.stderr == f"error: {tmp_path / 'ens'}: is itself an ensemble; give its members instead\n"
    assert not (tmp_path / "nested").exists()
    member = tmp_path / "member"
    shutil.copytree(seeds[1], member)
    before = (member / "model.pt").read_bytes()
    for given in (member, member / "model.pt"):
        result = runner.invoke(app, ["ensemble", str(seeds[0]), str(given), "-o", str(member), "--overwrite"])
        assert result.exit_code == 2, result.output
        assert result.stderr == (f"error: {member}: holds the member {given}, whose model.pt the ensemble would "
                                 "replace; choose another --output\n")
    assert (member / "model.pt").read_bytes() == before
