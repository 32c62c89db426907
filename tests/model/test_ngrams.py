"""The bag of hashed character n-grams (``ngram_features``): ids, batching, the model, ONNX, predict."""

import zlib

import pytest
import torch
from conftest import TWEETEVAL

from hbilstm.checkpoint import load_model
from hbilstm.data.batching import ResidentSplit, collate
from hbilstm.data.ngrams import NGRAM_BUCKETS, ngram_ids, token_ngrams
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.inference import predict_probs
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig


def test_the_ngrams_of_a_token_are_scikit_learns_char_wb_ngrams():
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False).build_analyzer()
    for token in ("good", "#happy", "x", "😂", "soo", "@user"):
        assert sorted(token_ngrams(token)) == sorted(analyzer(token)), token
    assert token_ngrams("ab") == [" a", "ab", "b ", " ab", "ab ", " ab "]


def test_ids_are_stable_crc32_buckets_from_1_with_0_left_for_padding():
    ids = ngram_ids(["good", "day"], 1000)
    assert ids[0] == zlib.crc32(b" g") % 1000 + 1  # the same in every process and on every machine
    assert len(ids) == len(token_ngrams("good")) + len(token_ngrams("day"))
    assert all(1 <= i <= 1000 for i in ngram_ids(["a" * 50, "😂", "#x"], 1000))
    assert ngram_ids([], 1000) == [0]  # never empty: a row of padding only
    assert ngram_ids(["good"], NGRAM_BUCKETS) == ngram_ids(["good"], NGRAM_BUCKETS)


def test_word_ngrams_follow_the_characters_one_id_per_run_of_words():
    chars = ngram_ids(["not", "so", "good"], 1000)
    both = ngram_ids(["not", "so", "good"], 1000, words=2)
    assert both[:len(chars)] == chars and len(both) == len(chars) + 3 + 2  # three words, two pairs
    assert both[-1] == zlib.crc32("\x01so good".encode()) % 1000 + 1
    assert both[len(chars)] == zlib.crc32(b"\x01not") % 1000 + 1
    assert len(ngram_ids(["a", "b", "c"], 1000, words=3)) == len(ngram_ids(["a", "b", "c"], 1000)) + 3 + 2 + 1
    assert ngram_ids([], 1000, words=2) == [0]
    # the order of the words matters to a pair, not to the characters
    assert sorted(ngram_ids(["good", "not"], 10**6)) == sorted(ngram_ids(["not", "good"], 10**6))
    assert ngram_ids(["good", "not"], 10**6, words=2)[-1] != ngram_ids(["not", "good"], 10**6, words=2)[-1]
    with pytest.raises(ValueError, match="ngram_words must be 0"):
        ModelConfig(vocab_size=5, num_classes=2, ngram_buckets=10, ngram_words=4)
    with pytest.raises(ValueError, match="set ngram_buckets too"):
        ModelConfig(vocab_size=5, num_classes=2, ngram_words=1)
    assert "ngram_words" not in ModelConfig(vocab_size=5, num_classes=2, ngram_buckets=10).to_dict()  # older digests
    assert ModelConfig(vocab_size=5, num_classes=2, ngram_buckets=10, ngram_words=2).to_dict()["ngram_words"] == 2
    from hbilstm.errors import CheckpointError
    from hbilstm.schema import check_model_config

    with pytest.raises(CheckpointError, match="ngram_words is 1, but the model has no n-gram classifier"):
        check_model_config({"vocab_size": 5, "num_classes": 2, "ngram_words": 1}, "folder")


def test_encoding_texts_gives_ngrams_of_the_tokens_the_model_reads_only_when_asked():
    tokenizer = TweetTokenizer()
    from hbilstm.data.vocab import Vocabulary

    vocab = Vocabulary(["<pad>", "<unk>", "good"])
    plain = encode_texts(tokenizer, vocab, 2, ["good good day", "meh"])
    assert plain.ngrams is None and plain.cut == [True, False]
    grams = encode_texts(tokenizer, vocab, 2, ["good good day", "meh"], 64).ngrams
    assert grams[0] == ngram_ids(["good", "good"], 64)  # the third token was cut, its n-grams too
    assert grams[1] == ngram_ids(["meh"], 64)  # an unknown word still has its spelling


def test_batches_pad_ngrams_with_zero_and_the_resident_split_cuts_the_same_batches():
    sequences, ngrams = [[2, 3, 4], [5], [6, 7]], [[1, 2], [3, 4, 5, 6], [0]]
    batch = collate(sequences, [0, 1, 2], [0, 1, 2], ngrams=ngrams)
    assert batch.ngrams.tolist() == [[1, 2, 0, 0], [3, 4, 5, 6], [0, 0, 0, 0]]
    assert len(batch.inputs) == 3 and len(collate(sequences, None, [0, 1, 2]).inputs) == 2
    resident = ResidentSplit(sequences, [0, 1, 2], "cpu", ngrams)
    for positions in ([2, 0], [1], [0, 1, 2]):
        got, want = resident.batch(positions), collate([sequences[i] for i in positions], [0] * len(positions),
                                                       positions, ngrams=[ngrams[i] for i in positions])
        assert torch.equal(got.ngrams, want.ngrams) and torch.equal(got.tokens, want.tokens)


def model(**kw) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    settings = dict(vocab_size=20, num_classes=3, embedding_dim=8, hidden=6, layers=2, dropout=0.0,
                    ngram_buckets=50, pooling="attention")
    settings.update(kw)
    net = HighwayBiLSTMClassifier(ModelConfig(**settings))
    with torch.no_grad():  # a head that has learnt something (it starts at zero)
        net.ngram_head.weight.weight[1:].normal_()
        net.ngram_head.bias.normal_()
    return net.eval()


TOKENS, LENGTHS = torch.tensor([[2, 3, 4], [5, 6, 0]]), torch.tensor([3, 2])
GRAMS = torch.tensor([[1, 7, 7, 9], [4, 0, 0, 0]])


def test_the_head_is_linear_over_the_bag_and_ignores_padding():
    net = model()
    head = net.ngram_head
    assert head.weight.weight.shape == (51, 3) and torch.all(head.weight.weight[0] == 0)
    rows = head.weight.weight
    expected = (rows[1] + 2 * rows[7] + rows[9]) / 2 + head.bias  # 4 n-grams: divided by sqrt(4)
    assert torch.allclose(head(GRAMS)[0], expected, atol=1e-6) and torch.allclose(head(GRAMS)[1], rows[4] + head.bias)
    wider = torch.cat([GRAMS, torch.zeros(2, 6, dtype=torch.long)], dim=1)
    assert torch.allclose(head(wider), head(GRAMS), atol=1e-6)  # padding neither adds nor counts
    assert torch.allclose(head(torch.zeros(1, 3, dtype=torch.long))[0], head.bias)
    fresh = HighwayBiLSTMClassifier(ModelConfig(vocab_size=20, num_classes=3, ngram_buckets=50))
    assert torch.all(fresh.ngram_head(GRAMS) == 0)  # a new head has no opinion


def test_eval_gives_the_mean_of_both_probabilities_and_training_both_logits():
    net = model()
    stack = net.classifier(net.dropout(net.encode(TOKENS, LENGTHS)))
    mixed = torch.softmax(net(TOKENS, LENGTHS, GRAMS), dim=-1)
    expected = (torch.softmax(stack, -1) + torch.softmax(net.ngram_head(GRAMS), -1)) / 2
    assert torch.allclose(mixed, expected, atol=1e-6)
    net.train()
    both = net(TOKENS, LENGTHS, GRAMS)
    assert both.shape == (2, 2, 3) and torch.allclose(both[1], net.ngram_head(GRAMS))
    net.eval()
    with pytest.raises(ValueError, match="reads character n-grams"):
        net(TOKENS, LENGTHS)
    plain = HighwayBiLSTMClassifier(ModelConfig(vocab_size=20, num_classes=3))
    assert not hasattr(plain, "ngram_head") and plain(TOKENS, LENGTHS).shape == (2, 3)


def test_training_gives_each_classifier_its_own_loss(ngram_run):
    assert load_model(ngram_run).model.ngram_head.weight.weight.abs().sum() > 0  # trained from zero
    net = model().train()
    criterion = torch.nn.CrossEntropyLoss()
    labels = torch.tensor([0, 2])
    both = net(TOKENS, LENGTHS, GRAMS)
    total = sum(criterion(head, labels) for head in both)
    total.backward()
    # the head's gradient comes from its own loss only: the stack's loss does not reach it
    head_only = criterion(net.ngram_head(GRAMS), labels)
    grad = torch.autograd.grad(head_only, net.ngram_head.bias)[0]
    assert torch.allclose(net.ngram_head.bias.grad, grad, atol=1e-6)


def test_the_packed_reference_gives_the_same_logits_with_ngrams():
    from packed_reference import packed_logits

    net = model()
    tokens, lengths = torch.tensor([[2, 3, 4, 5], [5, 6, 0, 0], [7, 0, 0, 0]]), torch.tensor([4, 2, 1])
    grams = torch.tensor([[1, 2, 3], [4, 5, 0], [0, 0, 0]])
    assert (packed_logits(net, tokens, lengths, grams) - net(tokens, lengths, grams)).abs().max() < 1e-5


def test_a_checkpoint_round_trip_and_every_scoring_path_agree(ngram_run):
    from hbilstm.api import load
    from hbilstm.evaluation.evaluate import evaluate

    loaded = load_model(ngram_run)
    assert loaded.ngram_buckets == 4096 and loaded.model.config.ngram_buckets == 4096
    assert loaded.ngram_words == 2 and loaded.model.config.ngram_words == 2
    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:150]
    encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts,
                           loaded.ngram_buckets, loaded.ngram_words)
    probs = predict_probs(loaded.model, encoded.ids, 64, ngrams=encoded.ngrams)
    api = load(ngram_run, device="cpu").predict_proba(texts)
    assert abs(api - probs.numpy()).max() < 1e-6
    # the saved test score is what evaluating the saved model gives (the same 150 test tweets)
    import json

    saved = json.loads((ngram_run / "results.json").read_text())["test"]["macro_recall"]
    assert evaluate(ngram_run, device="cpu")["macro_recall"] == pytest.approx(saved, abs=1e-9)
    # the n-grams matter to this model: without their spellings it scores differently
    blank = [[0] for _ in texts]
    assert (predict_probs(loaded.model, encoded.ids, 64, ngrams=blank) - probs).abs().max() > 1e-4
    # and so do the words: the characters alone score differently
    chars = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets)
    assert (predict_probs(loaded.model, encoded.ids, 64, ngrams=chars.ngrams) - probs).abs().max() > 1e-4


def test_the_onnx_graph_takes_ngrams_and_predict_gives_the_torch_labels(ngram_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import csv
    import shutil

    from hbilstm.export.onnx import NGRAM_INPUT, OnnxScorer, export_onnx
    from hbilstm.predict import predict

    run = tmp_path / "run"
    shutil.copytree(ngram_run, run)
    export_onnx(load_model(run).model, run / "model.onnx")
    scorer = OnnxScorer(run / "model.onnx")
    assert scorer.reads_ngrams and NGRAM_INPUT in [i.name for i in scorer.session.get_inputs()]
    with pytest.raises(ValueError, match="reads character n-grams"):
        scorer.predict_probs([[2, 3]])
    source = tmp_path / "in.txt"
    source.write_text((TWEETEVAL / "test_text.txt").read_text(encoding="utf-8"), encoding="utf-8")
    outputs = {}
    for backend, workers in (("torch", 0), ("onnx", 0), ("onnx", 1)):
        outputs[backend, workers] = tmp_path / f"{backend}{workers}.csv"
        predict(run, str(source), str(outputs[backend, workers]), workers=workers, chunk_size=700, backend=backend)
    rows = {k: list(csv.DictReader(open(v, encoding="utf-8"))) for k, v in outputs.items()}
    reference = rows["torch", 0]
    assert len(reference) > 2000 and len({r["label"] for r in reference}) > 1
    for key in (("onnx", 0), ("onnx", 1)):
        assert [r["label"] for r in rows[key]] == [r["label"] for r in reference], key
        assert max(abs(float(a["prob_positive"]) - float(b["prob_positive"]))
                   for a, b in zip(rows[key], reference)) < 1e-4


def test_the_stack_and_the_head_have_their_gradients_clipped_apart():
    from hbilstm.training.loop import clip_groups

    net = model().train()
    groups = clip_groups(net)
    assert len(groups) == 2 and groups[1] == list(net.ngram_head.parameters())
    assert len(clip_groups(HighwayBiLSTMClassifier(ModelConfig(vocab_size=20, num_classes=3)))) == 1
    criterion = torch.nn.CrossEntropyLoss()
    labels = torch.tensor([0, 2])
    stack_loss, head_loss = (criterion(head, labels) for head in net(TOKENS, LENGTHS, GRAMS))
    (stack_loss + 1000 * head_loss).backward()  # a head whose gradient is huge
    before = net.classifier.weight.grad.clone()
    stack_norm = float(torch.nn.utils.get_total_norm([p.grad for p in groups[0]]))
    for group in groups:
        torch.nn.utils.clip_grad_norm_(group, 1.0)
    # the stack's step is scaled by its own norm only, not shrunk by the head's huge one
    expected = before * min(1.0, 1.0 / (stack_norm + 1e-6))
    assert torch.allclose(net.classifier.weight.grad, expected, atol=1e-7)
    assert float(torch.nn.utils.get_total_norm([p.grad for p in groups[1]])) <= 1.0 + 1e-5
