"""How a token is looked up in a table of words (pretrained vectors, a lexicon, a fallback's keys)."""

from __future__ import annotations


def spellings(token: str) -> list[str]:
    """The strings to look a token up by in a table of words (vectors, a lexicon), most exact
    first: as it is, lowercased, and for a hashtag the same without its ``#``."""
    found = [token, token.lower()]
    if token.startswith("#") and len(token) > 1:
        found += [token[1:], token[1:].lower()]
    return found
