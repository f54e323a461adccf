"""snowballstemmer, English only: the package's __init__ as the CoreLayer ships it.

Installed over snowballstemmer/__init__.py by shared/Makefile. The original imports all of its
~36 language stemmers at once (1.9 MB, ~11 ms of every cold start); ragfood uses only English
(ragfood.relevance). Same API: `stemmer(lang)`, `algorithms()`.

Like the original, it prefers PyStemmer (the C build of the same Snowball stemmers) where it is
importable: the ask functions ship it (functions/ask/requirements.txt), as the stemming of the
first ask costs ~13 ms of CPU in pure Python and well under 1 ms in C. The pure-Python stemmer is
then never imported.
"""

__all__ = ("algorithms", "stemmer")

try:
    from Stemmer import Stemmer as _CStemmer
except ImportError:
    _CStemmer = None


def algorithms():
    return ["english"]


def stemmer(lang):
    lang = lang.lower()
    if lang != "english":
        raise KeyError(f"Stemming algorithm '{lang}' not found in this layer (English only)")
    if _CStemmer is not None:
        return _CStemmer(lang)
    from .english_stemmer import EnglishStemmer

    return EnglishStemmer()
