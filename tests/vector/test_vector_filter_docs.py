"""Every example filter of Upstash's metadata-filtering page, through the SDK, on the page's own
example metadata (Istanbul) and a second city that tells the operators apart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from upstash_vector import Index

Vec = Callable[..., list[float]]

ISTANBUL = {
    "city": "Istanbul",
    "country": "Turkey",
    "is_capital": False,
    "population": 15460000,
    "geography": {
        "continent": "Asia",
        "coordinates": {"latitude": 41.0082, "longitude": 28.9784},
    },
    "economy": {"currency": "TRY", "major_industries": ["Tourism", "Textiles", "Finance"]},
}
BERLIN = {
    "city": "Berlin",
    "country": "Germany",
    "is_capital": True,
    "population": 3645000,
    "motto": "Berlin bleibt doch Berlin",
    "geography": {
        "continent": "Europe",
        "coordinates": {"latitude": 52.52, "longitude": 13.405},
    },
    "economy": {"currency": "EUR", "major_industries": ["Technology", "Tourism", "Services"]},
}
BOTH = {"istanbul", "berlin"}


@pytest.fixture(scope="module")
def cities(index: Index, vec: Vec) -> str:
    namespace = "filter-docs-cities"
    index.upsert(
        [("istanbul", vec(1, 0.1), ISTANBUL), ("berlin", vec(1, 0.2), BERLIN)],
        namespace=namespace,
    )
    return namespace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("population >= 1000000 AND geography.continent = 'Asia'", {"istanbul"}),
        ('population >= 1000000 AND geography.continent = "Asia"', {"istanbul"}),
        ("country = 'Turkey' AND population = 15460000 AND is_capital = false", {"istanbul"}),
        ("country != 'Germany' AND population != 12500000 AND is_capital != true", {"istanbul"}),
        ("population < 20000000 OR geography.coordinates.longitude < 30.0", BOTH),
        ("population <= 20000000 OR geography.coordinates.longitude <= 30.0", BOTH),
        ("population > 10000000 OR geography.coordinates.latitude > 39.5", BOTH),
        ("population >= 10000000 OR geography.coordinates.latitude >= 39.5", BOTH),
        ("city GLOB '?[sz]*[^m-z]'", {"istanbul"}),
        ("city NOT GLOB 'A*'", BOTH),
        ("country IN ('Germany', 'Turkey', 'France')", BOTH),
        ("economy.currency NOT IN ('USD', 'EUR')", {"istanbul"}),
        ("economy.major_industries CONTAINS 'Tourism'", BOTH),
        ("economy.major_industries NOT CONTAINS 'Steel Production'", BOTH),
        ("country = 'Turkey' AND population > 10000000", {"istanbul"}),
        ("country = 'Turkey' AND (population > 10000000 OR is_capital = false)", {"istanbul"}),
        ("country = 'Turkey' AND population > 10000000 OR is_capital = false", {"istanbul"}),
        ("economy.currency != 'USD' AND geography.coordinates.latitude >= 35.0", BOTH),
        ("economy.major_industries[0] = 'Tourism'", {"istanbul"}),
        ("economy.major_industries[#-1] = 'Finance'", {"istanbul"}),
        ("HAS FIELD motto", {"berlin"}),
        ("HAS NOT FIELD motto", {"istanbul"}),
        ("HAS FIELD geography.coordinates.latitude", BOTH),
        ("country = 'Germany' and population > 1000000 or is_capital = FALSE", BOTH),
    ],
)
def test_the_documented_example_filters(
    index: Index, vec: Vec, cities: str, text: str, expected: set[str]
) -> None:
    results = index.query(vector=vec(1), top_k=10, filter=text, namespace=cities)

    assert {r.id for r in results} == expected


def test_identifiers_may_contain_hyphens(index: Index, vec: Vec, fresh_namespace: str) -> None:
    # Upstash's identifier form is [a-zA-Z_][a-zA-Z_0-9.[\]#-]*: "food-group" is one name.
    index.upsert(
        [
            ("rice", vec(1), {"food-group": "grain", "kcal-per-100g": 130}),
            ("apple", vec(1, 1), {"food-group": "fruit", "kcal-per-100g": 52}),
        ],
        namespace=fresh_namespace,
    )

    results = index.query(
        vector=vec(1),
        filter="food-group = 'grain' OR kcal-per-100g<60",
        namespace=fresh_namespace,
    )

    assert {r.id for r in results} == {"rice", "apple"}
