"""Dutch/English clinical free-text matching: folding, tokens, vocabulary phrases, negation, false friends."""

from detection.text.matcher import Lexicon, Mention, PhraseSpec, TextMatch, match_text
from detection.text.normalize import fold, tokenize

__all__ = ["Lexicon", "Mention", "PhraseSpec", "TextMatch", "fold", "match_text", "tokenize"]
