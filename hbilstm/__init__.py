"""hbilstm: tweet sentiment classification with a deep stack of Highway BiLSTM layers.

``hbilstm.load(path_or_hub_id)`` returns a :class:`~hbilstm.api.Classifier` (``predict``,
``predict_proba``, ``labels``, ``save_pretrained``, ``push_to_hub``);
``hbilstm.HighwayBiLSTMClassifier(layers=4).fit(texts, labels)`` trains one from texts in memory,
scikit-learn's way (:mod:`hbilstm.estimator`). Importing the package loads
no torch; :func:`load` does, when it is called, unless the model has a current ONNX graph to score
with ONNX Runtime (see :func:`hbilstm.api.load`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Classifier", "HighwayBiLSTMClassifier", "load", "__version__"]

if TYPE_CHECKING:
    from .api import Classifier
    from .estimator import HighwayBiLSTMClassifier


def load(source: Any, device: str = "auto", batch_size: int = 256, backend: str = "auto",
         int8: bool = False) -> "Classifier":
    """A trained model from a run directory, a ``model.pt``, an exported model folder or a Hub
    repo id; see :func:`hbilstm.api.load`."""
    from .api import load as _load

    return _load(source, device, batch_size, backend, int8)


def __getattr__(name: str) -> Any:
    if name == "Classifier":
        from .api import Classifier

        return Classifier
    if name == "HighwayBiLSTMClassifier":
        from .estimator import HighwayBiLSTMClassifier

        return HighwayBiLSTMClassifier
    raise AttributeError(f"module 'hbilstm' has no attribute {name!r}")
