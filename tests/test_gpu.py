"""GPU paths against the CPU path. Skipped where no CUDA GPU is visible (CI has none): run them
on a GPU machine with `python -m pytest -q tests/test_gpu.py`."""

import pytest
import torch

from hbilstm.checkpoint import load_model
from hbilstm.data.batching import ResidentSplit, collate
from hbilstm.inference import predict_probs

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_bf16_gpu_predictions_match_fp32_cpu_within_tolerance(trained_run):
    cpu = load_model(trained_run, "cpu")
    gpu = load_model(trained_run, "cuda")
    generator = torch.Generator().manual_seed(0)
    sequences = [torch.randint(2, len(cpu.vocab), (int(n),), generator=generator).tolist()
                 for n in torch.randint(1, 60, (500,), generator=generator)]
    # the default model's n-gram classifier reads n-gram ids too: random ones, several per token
    ngrams = [torch.randint(1, cpu.ngram_buckets + 1, (4 * len(s),), generator=generator).tolist() for s in sequences]
    reference = predict_probs(cpu.model, sequences, 128, torch.device("cpu"), ngrams=ngrams)
    fast = predict_probs(gpu.model, sequences, 128, torch.device("cuda"), amp=True, ngrams=ngrams)
    assert (fast - reference).abs().max() < 0.02  # bf16 keeps about 3 significant digits
    assert (fast.argmax(-1) == reference.argmax(-1)).float().mean() > 0.98


def test_resident_gpu_batches_equal_host_batches():
    sequences, ngrams = [[2, 3, 4], [5], [6, 7]], [[1, 2], [3, 4, 5], [6]]
    resident = ResidentSplit(sequences, [0, 1, 2], "cuda", ngrams)
    batch = resident.batch([2, 0])
    expected = collate([sequences[2], sequences[0]], [2, 0], [2, 0], ngrams=[ngrams[2], ngrams[0]])
    assert torch.equal(batch.tokens.cpu(), expected.tokens) and torch.equal(batch.labels.cpu(), expected.labels)
    assert torch.equal(batch.ngrams.cpu(), expected.ngrams) and batch.ngrams.device.type == "cuda"
    assert batch.lengths.device.type == "cpu"


def test_training_on_the_gpu_keeps_its_best_epoch_and_scores_like_the_cpu(tmp_path, data_dir):
    import json

    from hbilstm.config import TrainConfig
    from hbilstm.evaluation.evaluate import evaluate
    from hbilstm.training import train

    run = tmp_path / "run"
    result = train(TrainConfig(data_dir=str(data_dir), epochs=2, hidden=16, layers=3, device="cuda", patience=0), run)
    val = [json.loads(line)["val_macro_recall"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert result.best_epoch == 1 + val.index(max(val)) and result.epochs_run == 2
    on_cpu = evaluate(run, device="cpu")  # fp32 on the CPU against bf16 autocast on the GPU
    assert on_cpu["n"] == result.test["n"] == 150
    assert abs(on_cpu["accuracy"] - result.test["accuracy"]) <= 0.02


@pytest.mark.parametrize("amp", [False, True])
def test_the_stack_on_the_gpu_gives_the_cpu_logits_and_gradients_without_warnings(amp):
    """The padded stack (two one-direction cuDNN calls per layer) on CUDA against the same model
    on the CPU in fp32: the same logits and gradients, in fp32 and under autocast, and no warning
    (such as cuDNN's about weights outside one contiguous buffer, which would mean a copy of them on
    every call), also after a move away and back, which lays nn.LSTM's weights out again."""
    import copy
    import warnings

    from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig

    torch.manual_seed(0)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=500, num_classes=3, layers=4, pooling="attention",
                                                dropout=0.0)).train()
    lengths = torch.randperm(40) + 1
    tokens = torch.randint(2, 500, (40, 40)).masked_fill(torch.arange(40)[None, :] >= lengths[:, None], 0)
    labels = torch.arange(40) % 3

    def step(net, device):
        net.zero_grad()
        with warnings.catch_warnings(record=True) as caught, \
                torch.autocast("cuda", torch.bfloat16, enabled=amp and device == "cuda"):
            warnings.simplefilter("always")
            logits = net(tokens.to(device), lengths, None).float()
            torch.nn.functional.cross_entropy(logits, labels.to(device)).backward()
        assert not caught, [str(w.message) for w in caught]
        return logits.detach().cpu(), [p.grad.cpu() for p in net.parameters()]

    reference = step(model, "cpu")
    gpu = copy.deepcopy(model).cuda()
    results = [step(gpu, "cuda")]
    gpu.cpu().cuda()  # nn.LSTM lays its weights out as one buffer again on the move
    results.append(step(gpu, "cuda"))
    tolerance = 0.05 if amp else 1e-4
    for logits, grads in results:
        assert (reference[0] - logits).abs().max() < tolerance
        for expected, grad in zip(reference[1], grads, strict=True):
            assert (expected - grad).abs().max() < tolerance * max(1.0, expected.abs().max().item())


def test_steps_replayed_from_cuda_graphs_equal_eager_steps():
    """Two models from the same start, one stepped eagerly, the other through GraphedSteps
    (eager warm-up, then recording and replay, two shapes interleaved), every
    dropout off: the same losses, step by step, and the same weights at the end."""
    from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
    from hbilstm.training.graphs import WARMUP, GraphedSteps, SmoothedCrossEntropy, padded_inputs

    def make():
        torch.manual_seed(0)
        model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=300, num_classes=3, layers=3, pooling="attention",
                                                    ngram_buckets=512, dropout=0.0)).cuda().train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True, capturable=True)
        loss = SmoothedCrossEntropy(torch.tensor([1.2, 0.8, 1.0], device="cuda"), 0.1)

        def step(tokens, lengths, labels, ngrams):
            with torch.autocast("cuda", torch.bfloat16):
                logits = model(tokens, lengths, ngrams)
            total = loss(logits[0].float(), labels) + loss(logits[1].float(), labels)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
            optimizer.step()
            return (total.detach(),)
        return model, step

    generator = torch.Generator().manual_seed(1)
    batches = []
    for i in range(2 * (WARMUP + 4)):
        longest = 12 if i % 2 else 30
        lengths = torch.randint(1, longest + 1, (16,), generator=generator)
        tokens = torch.randint(2, 300, (16, int(lengths.max())), generator=generator)
        tokens = tokens.masked_fill(torch.arange(tokens.size(1))[None, :] >= lengths[:, None], 0)
        ngrams = torch.randint(1, 513, (16, 3 * tokens.size(1)), generator=generator)
        batches.append((tokens.cuda(), lengths, torch.randint(0, 3, (16,), generator=generator).cuda(), ngrams.cuda()))
    eager_model, eager_step = make()
    graphed_model, step = make()
    graphed = GraphedSteps(step, torch.device("cuda"))
    for batch in batches:
        expected = eager_step(*padded_inputs(*batch))[0].item()
        assert graphed(padded_inputs(*batch))[0].item() == pytest.approx(expected, abs=1e-5)
    assert len(graphed.graphs) == 2
    for (name, a), b in zip(eager_model.state_dict().items(), graphed_model.state_dict().values(), strict=True):
        assert (a.float() - b.float()).abs().max() < 1e-5, name


def test_training_replays_its_steps_from_cuda_graphs_and_trains_as_eagerly(tmp_path, data_dir, monkeypatch):
    from hbilstm.config import TrainConfig
    from hbilstm.training import graphs, train

    made = []
    original = graphs.GraphedSteps.__init__

    def remember(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(graphs.GraphedSteps, "__init__", remember)
    results = {on: train(TrainConfig(data_dir=str(data_dir), epochs=3, hidden=16, layers=3, device="cuda",
                                     patience=0, cuda_graphs=on), tmp_path / str(on)) for on in (False, True)}
    assert len(made) == 1 and made[0].graphs  # only the second run, and some steps were replayed
    assert abs(results[True].test["accuracy"] - results[False].test["accuracy"]) <= 0.05


def test_the_virtual_adversarial_passes_share_their_noise_on_the_gpu_too():
    from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
    from hbilstm.training.adversarial import EmbeddingAttack
    from hbilstm.training.virtual_adversarial import virtual_adversarial_loss

    torch.manual_seed(0)
    config = ModelConfig(vocab_size=50, num_classes=3, embedding_dim=16, hidden=8, layers=2, dropout=0.5,
                         embedding_noise=0.3)
    net = HighwayBiLSTMClassifier(config).cuda().train()
    tokens = torch.randint(2, 50, (16, 12), device="cuda")
    lengths = torch.randint(1, 13, (16,))
    tokens[torch.arange(12, device="cuda")[None, :] >= lengths.cuda()[:, None]] = 0
    attack = EmbeddingAttack(net)
    with torch.autocast("cuda", dtype=torch.bfloat16):  # the loss leaves autocast for float32 itself
        still = virtual_adversarial_loss(net, attack, tokens, lengths, 0.0)
        moved = virtual_adversarial_loss(net, attack, tokens, lengths, 0.05)
    assert still.dtype == torch.float32 and still.item() < 1e-5  # the same dropout masks in every pass
    assert moved.item() > 10 * max(still.item(), 1e-7)
