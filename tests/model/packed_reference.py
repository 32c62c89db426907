"""A reference for the padded stack: the classifier's forward pass with each LSTM run on packed
sequences, where padding never enters an LSTM at all (how hbilstm ran on GPUs until 2026-12-04).
The model's own forward pass reads the padded batch; the tests hold it to this one."""

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def packed_encode(model, tokens, lengths):
    embedded = model.embed(tokens)
    batch = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
    x = batch.data
    for layer in model.layers:
        if layer.lesioned:
            x = layer._lesioned(x)
        else:
            if x.is_cuda:
                layer.lstm.flatten_parameters()
            h = layer.lstm(batch._replace(data=layer.input_dropout(x)))[0].data
            x = layer._carry(x, h)[0]
    padded, _ = pad_packed_sequence(batch._replace(data=x), batch_first=True)
    lengths = lengths.to(padded.device)
    real = torch.arange(padded.size(1), device=padded.device)[None, :] < lengths[:, None]
    return model._pool(padded, lengths, real)


def packed_logits(model, tokens, lengths, ngrams=None):
    """What ``model(tokens, lengths, ngrams)`` gives, computed on packed sequences."""
    return model.with_ngram_head(model.classifier(model.dropout(packed_encode(model, tokens, lengths))), ngrams)
