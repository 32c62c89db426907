"""How much of a text, and of a line of input, is ever held or read: guards for memory and time.

A tweet has at most 280 characters and a model reads at most ``max_tokens`` tokens of it (128
by default), so these caps are far above anything real; they exist so that a hostile or broken
input (a 5 GB line, ``/dev/zero``) costs bounded memory and time, the same in every path
(``hbilstm predict``, the Ray engine, ``hbilstm.load(...).predict_proba``, ``hbilstm serve``).
"""

# The tokenizer reads the first MAX_TEXT_CHARS characters of a text; a longer text counts as cut
# (and then, like any text of more than max_tokens tokens, as truncated).
MAX_TEXT_CHARS = 10_000

# Whitespace-free pieces longer than this are split into pieces of this length before spaCy's
# affix rules, whose cost grows with the square of a piece's length. Of the 150,000 tweets in
# ../shared/data, two hold a longer piece (chains of hashtags).
MAX_PIECE_CHARS = 128

# A line of input longer than this many characters is refused (a CSV or JSONL record cannot be
# parsed without it whole; a text file's line is cut to MAX_TEXT_CHARS as it is read, and the
# rest skipped, but a line without end, such as /dev/zero's, is an error, not an endless wait).
MAX_LINE_CHARS = 16 * 1024 * 1024
