"""hbilstm analyze: lesions, gate activity by token, pruning by lesion."""

import json

import pytest
import torch
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.evaluation.analyze import token_gate_means
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.model.layers import reverse_index
from hbilstm.model.prune import prune_layers

runner = CliRunner()


def model(carry="highway", layers=3, embedding_dim=16, hidden=8, seed=0, pooling="max"):
    torch.manual_seed(seed)
    return HighwayBiLSTMClassifier(ModelConfig(vocab_size=50, num_classes=3, embedding_dim=embedding_dim,
                                               hidden=hidden, layers=layers, carry=carry, pooling=pooling)).eval()


def batch(seed=1):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 1, 4, 7, 2])
    tokens = torch.randint(2, 50, (5, 7), generator=generator)
    tokens[torch.arange(7)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


@pytest.mark.parametrize("carry", ["highway", "gated-residual", "residual"])
def test_a_lesioned_untrained_layer_is_exactly_its_carry_path(carry):
    net = model(carry, layers=1, embedding_dim=10)  # 10 -> 16 wide: the carry path is the projection P
    tokens, lengths = batch()
    layer = net.layers[0]
    x = net.embedding(tokens)
    reverse = reverse_index(lengths, x.size(1))
    layer.lesioned = True
    with torch.no_grad():
        out = layer(x, reverse)
        assert torch.equal(out, layer.project(x))  # y = P(x) exactly
    layer.lesioned = False
    with torch.no_grad():
        assert not torch.allclose(layer(x, reverse), out)  # and the intact layer differs


def test_a_plain_layer_cannot_be_lesioned():
    net = model("plain", layers=1)
    net.layers[0].lesioned = True
    with pytest.raises(ValueError, match="no carry path"):
        net(*batch())


def test_token_gate_means_ignore_padding():
    net = model()
    tokens, lengths = batch()
    sequences = [row[:n].tolist() for row, n in zip(tokens, lengths)]
    together = token_gate_means(net, sequences, batch_size=64)
    # each tweet alone, with no padding at all, gives the same per-token gates
    alone = [token_gate_means(net, [s], batch_size=1) for s in sequences]
    for layer in range(3):
        totals: dict = {}
        for stats in alone:
            for token, (gate, count) in stats[layer].items():
                s, n = totals.get(token, (0.0, 0))
                totals[token] = (s + gate * count, n + count)
        assert set(totals) == set(together[layer]) and 0 not in together[layer]  # no padding id
        for token, (s, n) in totals.items():
            assert together[layer][token][1] == n
            assert together[layer][token][0] == pytest.approx(s / n, abs=1e-6)


@pytest.mark.parametrize("pooling", ["max", "attention"])
def test_pruning_gives_the_output_of_the_kept_layers_unchanged(pooling):
    net = model(layers=4, embedding_dim=16, pooling=pooling)  # every layer 16 -> 16: all removable
    tokens, lengths = batch()
    for layer in (net.layers[1], net.layers[3]):
        layer.lesioned = True
    with torch.no_grad():
        expected = net(tokens, lengths)
    for layer in net.layers:
        layer.lesioned = False
    pruned = prune_layers(net, [1, 3]).eval()
    assert len(pruned.layers) == 2 and pruned.num_parameters() < net.num_parameters()
    with torch.no_grad():
        assert torch.equal(pruned(tokens, lengths), expected)
    with pytest.raises(ValueError, match="changes the width"):
        prune_layers(model(layers=2, embedding_dim=10), [0])


def test_analyze_command_writes_lesions_tokens_and_pruning(trained_run, tmp_path, data_dir):
    result = runner.invoke(app, ["analyze", str(trained_run), "-o", str(tmp_path / "a"), "--data-dir", str(data_dir),
                                 "--min-count", "3", "--threshold", "100"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in (tmp_path / "a").iterdir()}
    assert names == {"analysis.json", "analysis.md", "lesions.csv", "tokens.csv", "lesions.png"}
    analysis = json.loads((tmp_path / "a" / "analysis.json").read_text())
    results = json.loads((trained_run / "results.json").read_text())
    assert analysis["baseline"] == results["test"]["macro_recall"]  # the same model on the same split
    assert [e["layer"] for e in analysis["layers"]] == [1, 2]
    assert all(0 < e["gate_mean"] < 1 for e in analysis["layers"])
    assert len(analysis["tokens"]) == 2 and analysis["tokens"][0]["most"]
    # with a threshold of 100 points every removable layer goes but one must stay
    assert analysis["pruning"]["layers_after"] >= 1
    # which layers go is chosen on val, and the pruned model is scored once on test
    pruning = analysis["pruning"]
    assert (pruning["chosen_on"], pruning["scored_on"], pruning["same_split"]) == ("val", "test", False)
    assert pruning["chosen_score_before"] == results["val"]["macro_recall"]
    assert pruning["score_before"] == results["test"]["macro_recall"]
    report = (tmp_path / "a" / "analysis.md").read_text()
    assert "Chosen on the val split" in report and "Scored once on the test split" in report
    assert "## Pruning by lesion" in report and "## Mean T by kind of token" in report
    assert [c["layer"] for c in analysis["categories"]] == [1, 2] and "word" in analysis["categories"][0]


def test_analyze_refuses_a_plain_stack(tmp_path, data_dir):
    from hbilstm.config import TrainConfig
    from hbilstm.training import train

    run = tmp_path / "plain"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                      carry="plain"), run)
    result = runner.invoke(app, ["analyze", str(run), "-o", str(tmp_path / "a"), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "has no carry path to lesion" in result.stderr


def test_an_output_that_is_a_file_is_refused_before_any_work(trained_run, tmp_path, monkeypatch):
    import hbilstm.evaluation.analyze as module

    monkeypatch.setattr(module, "scoring_data", lambda *a, **k: pytest.fail("scored before checking --output"))
    target = tmp_path / "report.txt"
    target.write_text("mine")
    result = runner.invoke(app, ["analyze", str(trained_run), "-o", str(target)])
    assert (
        result.exit_code == 2
        and result.stderr == f"error: {target}: is a file; --output takes a folder for the analysis\n"
    )
    assert target.read_text() == "mine"


def test_a_run_of_a_compare_folder_is_analysed_into_it_and_the_report_links_it(trained_run, tmp_path, data_dir):
    import shutil

    from hbilstm.study.report import build_report
    from hbilstm.study.sweep import RUNS_DIR, SWEEP_FILE

    study = tmp_path / "study"
    run = study / RUNS_DIR / "highway-L2-s3"
    shutil.copytree(trained_run, run)
    (study / SWEEP_FILE).write_text(json.dumps({"axes": {"carry": ["highway"], "layers": [2], "seed": [3]},
                                                "base": {}, "commands": []}), encoding="utf-8")
    result = runner.invoke(app, ["analyze", str(run), "--data-dir", str(data_dir), "--min-count", "3"])
    assert result.exit_code == 0, result.output
    analysis = json.loads((study / "analysis" / "highway-L2-s3" / "analysis.json").read_text())
    build_report(study)
    report = (study / "report.md").read_text(encoding="utf-8")
    section = report.split("## Layer lesioning (hbilstm analyze)", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("| highway-L2-s3 |"))
    assert f"| {100 * analysis['baseline']:.2f} |" in row and "analysis/highway-L2-s3/analysis.md" in row
    assert "![Lesioning highway-L2-s3" in section
    assert "Layer lesioning (hbilstm analyze)" in (study / "report.html").read_text(encoding="utf-8")
    # A run outside a compare folder has no default: the command asks for -o.
    result = runner.invoke(app, ["analyze", str(trained_run), "--data-dir", str(data_dir)])
    assert result.exit_code == 2 and "pass -o DIR" in result.stderr


def test_tokens_are_grouped_by_kind_and_each_kind_weighs_its_occurrences():
    from hbilstm.evaluation.analyze import category_means, token_category

    assert [
        token_category(t) for t in ["good", "#win", "#", "@user", "<url>", "🙂", "👍🏽", "!!", "...", "2024", "<unk>",
                                    "b4"]
    ] == [
        "word",
        "hashtag",
        "hashtag",
        "mention",
        "url",
        "emoji",
        "emoji",
        "punctuation",
        "punctuation",
        "number",
        "unknown",
        "word",
    ]
    vocab = ["<pad>", "<unk>", "good", "bad", "!", "#win"]
    means = category_means({2: (0.2, 3), 3: (0.6, 1), 4: (0.9, 2), 5: (0.5, 4)}, vocab)
    assert means["word"] == {"gate": pytest.approx((0.2 * 3 + 0.6) / 4), "count": 4}
    assert means["punctuation"]["gate"] == pytest.approx(0.9) and means["hashtag"]["count"] == 4
    assert "emoji" not in means and list(means) == ["word", "hashtag", "punctuation"]
