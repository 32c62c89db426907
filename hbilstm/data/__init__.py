"""From files of tweets to batches of ids. Knows nothing of the model.

* ``readers``     the file formats (TweetEval, SemEval, SST, CSV/TSV/JSONL), streamed or whole;
* ``corpora``     datasets by name or path: splits, label names, official metric;
* ``hub``         TweetEval fetched from the Hugging Face Hub once, failing fast offline;
* ``catalog``     what the data directory holds (``hbilstm data``);
* ``tokenizer``   spaCy's tokenizer made Twitter-aware;
* ``spacy_rules`` its rules saved once and applied without importing spaCy;
* ``token_cache`` tokenized splits cached as Arrow tables;
* ``vocab``       tokens <-> ids;
* ``pipeline``    a corpus to encoded splits (tokenize, build the vocabulary, encode);
* ``batching``    length-bucketed, padded batches (``padding``: the numpy part, torch-free);
* ``embeddings``  pretrained vectors for a vocabulary.
"""
