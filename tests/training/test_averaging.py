"""Weight averages: the exponential moving average (``ema``) and the epoch average (``swa_start``); issue 13, item 6."""

import json

import pytest
import torch
from torch import nn

from hbilstm.checkpoint import load_checkpoint
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.training import load_run_config, train
from hbilstm.training.averaging import EpochAverage, WeightAverage


def test_the_shadow_follows_the_weights_with_a_ramped_decay_and_is_swapped_in_and_out():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    net[1].bias.requires_grad_(False)  # frozen weights are not averaged
    average = WeightAverage(net, 0.9)
    assert len(average.shadow) == 3
    start = net[0].weight.detach().clone()
    expected = start.clone()
    for step in range(1, 40):
        with torch.no_grad():
            net[0].weight.add_(0.1)
        average.update()
        keep = min(0.9, (1 + step) / (10 + step))
        expected = keep * expected + (1 - keep) * net[0].weight.detach()
    assert torch.allclose(average.shadow[0], expected, atol=1e-6)
    raw = net[0].weight.detach().clone()
    with average.applied():
        assert torch.allclose(net[0].weight, expected, atol=1e-6)
    assert torch.equal(net[0].weight, raw)  # the raw weights come back exactly

    again = WeightAverage(net, 0.9)
    again.load_state_dict(average.state_dict())
    assert again.updates == 39 and all(torch.equal(a, b) for a, b in zip(again.shadow, average.shadow))
    with pytest.raises(ValueError, match="does not fit"):
        WeightAverage(nn.Linear(3, 5), 0.9).load_state_dict(average.state_dict())
    with pytest.raises(ConfigError, match="ema"):
        TrainConfig(ema=1.0, swa_start=0)


def test_the_epoch_average_is_the_weights_until_its_start_then_the_mean_of_the_epochs_since():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    average = EpochAverage(net, start=3)
    ends = []
    for epoch in range(1, 6):
        with torch.no_grad():
            net.weight.mul_(1.5).add_(epoch)
        ends.append(net.weight.detach().clone())
        average.epoch_end(epoch)
        with average.applied():
            if epoch < 3:
                assert torch.equal(net.weight, ends[-1])  # not averaging yet: the weights themselves
            else:
                assert torch.allclose(net.weight, torch.stack(ends[2:]).mean(0), atol=1e-6)
        assert torch.equal(net.weight, ends[-1])
    assert average.updates == 3
    again = EpochAverage(nn.Linear(3, 2), start=3)
    again.load_state_dict(average.state_dict())
    assert again.updates == 3 and torch.equal(again.shadow[0], average.shadow[0])
    with pytest.raises(ConfigError, match="swa_start"):
        TrainConfig(ema=0.9, swa_start=2)


def tiny(data_dir, **kw):
    # calibrate off: model.pt then holds the weights and val scores as validated at their epoch
    settings = dict(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=3, batch_size=32,
                    min_freq=1, seed=5, threads=1, patience=0, ema=0.9, swa_start=0, calibrate=False)
    settings.update(kw)
    return TrainConfig(**settings)


def shadow_by_name(checkpoint: dict) -> dict:
    from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig

    net = HighwayBiLSTMClassifier(ModelConfig.from_dict(checkpoint["model_config"]))
    names = [n for n, p in net.named_parameters() if p.requires_grad]
    return dict(zip(names, checkpoint["average"]["shadow"], strict=True))


def test_the_average_is_what_is_validated_and_kept(tmp_path, data_dir):
    run = tmp_path / "one"
    train(tiny(data_dir, epochs=1), run)
    last = load_checkpoint(run / "last.pt", kind="resume")
    best = load_checkpoint(run / "model.pt")
    assert last["average"]["updates"] == 13  # 400 tweets in batches of 32
    shadow = shadow_by_name(last)
    assert all(torch.equal(best["state_dict"][k], v) for k, v in shadow.items())  # model.pt is the average
    assert any(not torch.equal(last["state_dict"][k], v) for k, v in shadow.items())  # last.pt keeps the raw weights
    record = json.loads((run / "metrics.jsonl").read_text())
    assert best["val"]["macro_recall"] == record["val_macro_recall"]


def test_the_epoch_average_is_what_is_validated_and_kept(tmp_path, data_dir):
    runs = {epochs: tmp_path / f"e{epochs}" for epochs in (2, 3)}
    for epochs, run in runs.items():
        train(tiny(data_dir, epochs=epochs, ema=0.0, swa_start=2), run)
    raw = [load_checkpoint(run / "last.pt", kind="resume")["state_dict"] for run in runs.values()]
    last = load_checkpoint(runs[3] / "last.pt", kind="resume")
    assert last["average"]["updates"] == 2 and last["average"]["start"] == 2
    for name, averaged in shadow_by_name(last).items():  # the mean of the weights after epochs 2 and 3
        assert torch.allclose(averaged, (raw[0][name] + raw[1][name]) / 2, atol=1e-6)
    best = load_checkpoint(runs[3] / "model.pt")
    records = [json.loads(line) for line in (runs[3] / "metrics.jsonl").read_text().splitlines()]
    assert best["val"]["macro_recall"] == max(r["val_macro_recall"] for r in records)
    # model.pt holds what was validated at its epoch: the average after epoch 3, epoch 2's own weights before
    kept = {3: shadow_by_name(last), 2: raw[0]}.get(best["epoch"], {})
    assert all(torch.allclose(best["state_dict"][k], v, atol=1e-6) for k, v in kept.items())


@pytest.mark.parametrize("average, updates", [({"ema": 0.9}, 3 * 13), ({"ema": 0.0, "swa_start": 2}, 2)])
def test_a_resumed_run_continues_the_same_average(tmp_path, data_dir, average, updates):
    straight = tmp_path / "straight"
    train(tiny(data_dir, **average), straight)
    split = tmp_path / "split"
    train(tiny(data_dir, epochs=2, **average), split)
    train(load_run_config(split, {"epochs": 3}), split, resume=True)
    a, b = (load_checkpoint(run / "last.pt", kind="resume") for run in (straight, split))
    assert a["average"]["updates"] == b["average"]["updates"] == updates
    assert all(torch.equal(x, y) for x, y in zip(a["average"]["shadow"], b["average"]["shadow"]))
    a, b = (load_checkpoint(run / "model.pt")["state_dict"] for run in (straight, split))
    assert all(torch.equal(a[k], b[k]) for k in a)
