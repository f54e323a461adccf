"""The hash embedder (deterministic, normalised, word overlap means similarity) and the lazy
loading of the MiniLM model."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from ragfood_vector.embedders import HashEmbedder, make_embedder


def test_hash_embedder_returns_unit_vectors_of_the_configured_dimension() -> None:
    vectors = HashEmbedder(64).embed(["roast chicken with lemon", "Pad Thai"])

    assert vectors.shape == (2, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_hash_embedder_is_deterministic_across_instances() -> None:
    first = HashEmbedder(384).embed(["mushroom risotto"])
    second = HashEmbedder(384).embed(["mushroom risotto"])

    assert np.array_equal(first, second)


def test_hash_embedder_is_deterministic_across_processes() -> None:
    # Python salts str hashes per process; the embedder must not depend on them.
    code = (
        "from ragfood_vector.embedders import HashEmbedder;"
        "print(HashEmbedder(384).embed(['mushroom risotto'])[0].tolist())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }

    assert outputs == {str(HashEmbedder(384).embed(["mushroom risotto"])[0].tolist()) + "\n"}


def test_hash_embedder_ignores_case() -> None:
    embedder = HashEmbedder(384)

    assert np.array_equal(embedder.embed(["Tomato Soup"]), embedder.embed(["tomato soup"]))


def test_texts_sharing_words_are_more_similar_than_unrelated_texts() -> None:
    embedder = HashEmbedder(384)
    query, related, unrelated = embedder.embed(
        ["spicy tomato soup", "a soup of roasted tomato", "chocolate chip cookies"]
    )

    assert float(query @ related) > float(query @ unrelated) + 0.2


def test_an_empty_text_embeds_to_the_zero_vector() -> None:
    assert not HashEmbedder(16).embed([""]).any()


def test_the_none_embedder_is_no_embedder() -> None:
    assert make_embedder("none", 384) is None


def test_choosing_the_hash_embedder_never_imports_torch() -> None:
    code = (
        "import sys; from ragfood_vector.config import ServiceConfig;"
        "from ragfood_vector.server import build_app; import tempfile;"
        "build_app(ServiceConfig(embedder='hash', data_dir=tempfile.mkdtemp()));"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False False"
