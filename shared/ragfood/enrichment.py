"""The text that is embedded for an item, and its inverse.

Kept apart from `foods` (the upload validator) so the ask path can recover an item's text from a
query result without importing the validator; `foods` re-exports both functions.
"""

from __future__ import annotations


def enrich(text: str, region: str | None, type_: str | None) -> str:
    """The text that is embedded: the item's own words plus its region and type."""
    enriched = text.strip()  # built by concatenation: this runs for every item of every upload
    if region:
        enriched += f" This food is popular in {region}."
    if type_:
        enriched += f" It is a type of {type_}."
    return enriched


def recover_text(data: str, region: str | None, type_: str | None) -> str:
    """The item's own text from its stored data: the exact inverse of `enrich`.

    Items are stored with the enriched text as data and no text in metadata, so that listing the
    stored hashes transfers no text; region and type come from the same vector's metadata.
    """
    text = data
    if type_:
        text = text.removesuffix(f" It is a type of {type_}.")
    if region:
        text = text.removesuffix(f" This food is popular in {region}.")
    return text
