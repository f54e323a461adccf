"""snowballstemmer, English only: the package's __init__ as the CoreLayer ships it.

Installed over snowballstemmer/__init__.py by shared/Makefile. The original imports all of its
~36 language stemmers at once (1.9 MB, ~11 ms of every cold start); ragfood uses only English
(ragfood.relevance). Same API: `stemmer(lang)`, `algorithms()`.
"""

__all__ = ("algorithms", "stemmer")

from .english_stemmer import EnglishStemmer

_languages = {"english": EnglishStemmer}


def algorithms():
    return list(_languages.keys())


def stemmer(lang):
    lang = lang.lower()
    if lang in _languages:
        return _languages[lang]()
    raise KeyError(f"Stemming algorithm '{lang}' not found in this layer (English only)")
