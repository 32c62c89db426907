"""hbilstm: tweet sentiment classification with a deep stack of Highway BiLSTM layers."""

__version__ = "0.1.0"
