"""What each layer of a trained stack does: lesions, gate activity by token, pruning by lesion.

Following Srivastava et al. (2015, section 4.2): lesioning a layer forces it to pass on only its
carry path, y = P(x) (highway: T = 0; gated-residual: g = 0; residual: H dropped), with no
retraining; the score that costs shows whether the layer does work or has learned to carry its
input on. The layers whose lesion costs less than a threshold are then removed together (where
their carry path is the identity) and the pruned model is scored as it is (Savarese et al.).

Which layers go is decided on the validation split, and the pruned model is then scored once on
the reported split (test by default): choosing on the split that is reported would make the
pruned score look better than it is. Only data with no validation split is chosen and scored on
the same split, and the analysis says so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ..data.batching import bucket_order, iter_batches
from ..data.tokenizer import EMOJI_SEQUENCE, HASHTAG_TOKEN, URL_TOKEN
from ..data.vocab import UNK as UNK_TOKEN
from ..errors import ConfigError, DataError
from ..inference import layer_statistics, predict_probs
from ..model.prune import prune_layers, removable
from .evaluate import encode_split, scoring_data
from .metrics import classification_metrics

LESIONABLE = ("highway", "gated-residual", "residual")


@dataclass
class Analysis:
    checkpoint: str
    dataset: str
    split: str
    metric: str
    carry: str
    baseline: float
    layers: list[dict] = field(default_factory=list)  # layer, gate_mean, k/g, lesioned score, cost
    tokens: list[dict] = field(default_factory=list)  # per highway layer: most and least opening tokens
    categories: list[dict] = field(default_factory=list)  # per highway layer: mean T by kind of token
    pruning: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _score(model, encoded, batch_size, device, labels, metric) -> float:
    probs = predict_probs(model, encoded.ids, batch_size, device, ngrams=encoded.ngrams)
    return classification_metrics(encoded.labels, probs.argmax(-1).tolist(), labels)[metric]


def lesion_scores(model, encoded, batch_size, device, labels, metric) -> list[float]:
    """The metric with each layer lesioned in turn (the others intact)."""
    scores = []
    for layer in model.layers:
        layer.lesioned = True
        try:
            scores.append(_score(model, encoded, batch_size, device, labels, metric))
        finally:
            layer.lesioned = False
    return scores


@torch.inference_mode()
def token_gate_means(model, sequences: Sequence[Sequence[int]], batch_size: int = 256,
                     device: torch.device | None = None) -> list[dict[int, tuple[float, int]]]:
    """For each highway layer, ``{token id: (mean transform gate, occurrences)}`` over the real
    tokens of ``sequences`` (padding never counts: the gates are read at real positions only)."""
    device = device or next(model.parameters()).device
    model.eval()
    sums: list[dict[int, float]] = [defaultdict(float) for _ in model.layers]
    counts: list[dict[int, int]] = [defaultdict(int) for _ in model.layers]
    for layer in model.layers:
        layer.token_gates = True
    try:
        for batch in iter_batches(sequences, None, bucket_order([len(s) for s in sequences], batch_size)):
            stats: list[dict] = []
            model.encode(batch.tokens.to(device), batch.lengths, stats)
            real = torch.arange(batch.tokens.size(1))[None, :] < batch.lengths[:, None]
            ids = batch.tokens[real].tolist()  # row by row, as the layers give their token gates
            for i, entry in enumerate(stats):
                gates = entry.get("token_gate")
                if gates is None:
                    continue
                for token, gate in zip(ids, gates.tolist()):
                    sums[i][token] += gate
                    counts[i][token] += 1
    finally:
        for layer in model.layers:
            layer.token_gates = False
    return [{t: (sums[i][t] / counts[i][t], counts[i][t]) for t in counts[i]} for i in range(len(model.layers))]


def analyze(checkpoint: str | Path, data: str | None = None, split: str | None = None,
            data_dir: str | None = None, batch_size: int = 256, device: str = "auto",
            threshold: float = 0.5, top: int = 10, min_count: int = 20) -> Analysis:
    """Lesion every layer of the model in ``checkpoint`` on ``split`` of ``data`` (as
    :func:`~hbilstm.evaluation.evaluate.evaluate` chooses them), list the tokens that open each
    highway layer's gate most and least (types seen at least ``min_count`` times), and prune the
    layers whose lesion costs less than ``threshold`` points of the official metric, as lesions on
    the validation split decide (see the module), scoring the pruned model on ``split``."""
    scoring = scoring_data(checkpoint, data, split, data_dir, device)
    model, encoded, labels = scoring.loaded.model, scoring.encoded, scoring.loaded.label_names
    if hasattr(model, "members"):
        raise ConfigError("an ensemble has no single stack of layers to lesion; analyze one of its members")
    carry, metric = model.config.carry, scoring.official
    if carry not in LESIONABLE:
        raise ConfigError(f"a {carry} stack has no carry path to lesion to; analyze takes "
                          f"{', '.join(LESIONABLE)} stacks")
    run = (scoring.device, labels, metric)
    baseline = _score(model, encoded, batch_size, *run)
    lesioned = lesion_scores(model, encoded, batch_size, *run)
    stats = layer_statistics(model, encoded.ids, batch_size, scoring.device, limit=len(encoded.ids))
    layers = []
    for i, (entry, score) in enumerate(zip(stats, lesioned)):
        layers.append({**{k: v for k, v in entry.items() if k in ("layer", "gate_mean", "gate_std", "k", "g")},
                       "lesioned": score, "cost": baseline - score, "removable": removable(model, i)})
    analysis = Analysis(str(scoring.loaded.path), scoring.corpus.name, scoring.split, metric, carry, baseline, layers)
    if carry == "highway":
        vocab = scoring.loaded.vocab.tokens
        for i, gates in enumerate(token_gate_means(model, encoded.ids, batch_size, scoring.device)):
            analysis.categories.append({"layer": i + 1, **category_means(gates, vocab)})
            frequent = sorted(((g, n, vocab[t]) for t, (g, n) in gates.items() if n >= min_count), reverse=True)
            analysis.tokens.append({
                "layer": i + 1,
                "most": [{"token": w, "gate": g, "count": n} for g, n, w in frequent[:top]],
                "least": [{"token": w, "gate": g, "count": n} for g, n, w in frequent[::-1][:top]],
            })
    selection, chosen_on = _selection(scoring)
    same = selection is None  # no validation split to choose on: the reported one, and the report says so
    selection = encoded if same else selection
    before = baseline if same else _score(model, selection, batch_size, *run)
    costs = layers if same else [{**entry, "cost": before - score}
                                 for entry, score in zip(layers, lesion_scores(model, selection, batch_size, *run))]
    pruning = prune_by_lesion(model, costs, before, threshold, lambda m: _score(m, selection, batch_size, *run))
    reported = pruning["score_after"]
    if not same:  # the chosen stack, scored once on the reported split
        reported = baseline if not pruning["dropped"] else _score(
            prune_layers(model, [i - 1 for i in pruning["dropped"]]).eval(), encoded, batch_size, *run)
    analysis.pruning = {**pruning, "chosen_on": chosen_on, "chosen_score_before": pruning["score_before"],
                        "chosen_score_after": pruning["score_after"], "score_before": baseline, "score_after": reported,
                        "scored_on": scoring.split, "same_split": same}
    return analysis


def _selection(scoring):
    """The split pruning chooses on and its name: val, encoded for the model, when the reported split
    is another and the data has one; else ``(None, the reported split)``."""
    if scoring.split == "val":
        return None, "val"
    try:
        return encode_split(scoring, "val"), "val"
    except DataError:  # data with no validation split
        return None, scoring.split


CATEGORIES = ("word", "hashtag", "mention", "url", "emoji", "punctuation", "number", "unknown")
_EMOJI = re.compile(f"(?:{EMOJI_SEQUENCE})+")


def token_category(token: str) -> str:
    """The kind of a (normalised) token: one of :data:`CATEGORIES`."""
    if token == UNK_TOKEN:
        return "unknown"
    if token == URL_TOKEN:
        return "url"
    if token == HASHTAG_TOKEN:  # a split hashtag's marker (split_hashtags); its words are words
        return "hashtag"
    if len(token) > 1 and token[0] in "#@":
        return "hashtag" if token[0] == "#" else "mention"
    if _EMOJI.fullmatch(token):
        return "emoji"
    if not any(c.isalnum() for c in token):
        return "punctuation"
    if not any(c.isalpha() for c in token):
        return "number"
    return "word"


def category_means(gates: dict[int, tuple[float, int]], vocab: list[str]) -> dict[str, dict]:
    """Per kind of token, the mean transform gate over its occurrences (``{"gate", "count"}``;
    kinds that never occur are left out)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for token_id, (gate, count) in gates.items():
        kind = token_category(vocab[token_id])
        sums[kind] = sums.get(kind, 0.0) + gate * count
        counts[kind] = counts.get(kind, 0) + count
    return {kind: {"gate": sums[kind] / counts[kind], "count": counts[kind]} for kind in CATEGORIES if kind in counts}


def prune_by_lesion(model, layers: list[dict], baseline: float, threshold: float, score) -> dict:
    """Remove removable layers one at a time, cheapest lesion first, keeping each removal only
    while the pruned model's score stays within ``threshold`` points of ``baseline`` (lesions
    interact: each alone may cost little and several together much)."""
    candidates = sorted((i for i, e in enumerate(layers) if e["removable"] and e["cost"] < threshold / 100),
                        key=lambda i: layers[i]["cost"])
    dropped: list[int] = []
    tried = []
    current = baseline
    for index in candidates:
        if len(dropped) + 1 >= len(layers):
            break
        value = score(prune_layers(model, dropped + [index]).eval())
        tried.append({"layer": index + 1, "score": value, "kept_out": baseline - value < threshold / 100})
        if baseline - value < threshold / 100:
            dropped.append(index)
            current = value
    pruned = prune_layers(model, dropped) if dropped else model
    return {"threshold_points": threshold, "dropped": sorted(i + 1 for i in dropped), "tried": tried,
            "layers_before": len(layers), "layers_after": len(layers) - len(dropped),
            "parameters_before": model.num_parameters(), "parameters_after": pruned.num_parameters(),
            "score_before": baseline, "score_after": current}
