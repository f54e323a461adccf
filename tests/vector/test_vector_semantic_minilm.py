"""The real MiniLM embedder finds dishes from paraphrased questions that never name them."""

from __future__ import annotations

import pytest
from upstash_vector.types import Data

from ragfood_vector.launcher import VectorServer

pytestmark = pytest.mark.minilm

FOODS = {
    "sushi": (
        "Sushi: vinegared rice topped or rolled with raw fish such as tuna or salmon, "
        "served with soy sauce, wasabi and pickled ginger."
    ),
    "tacos": (
        "Tacos al pastor: corn tortillas filled with spit-roasted marinated pork, "
        "pineapple, onion and cilantro, a Mexican street food."
    ),
    "croissant": (
        "Croissant: a flaky, buttery, crescent-shaped French pastry made from laminated "
        "yeast dough, eaten at breakfast."
    ),
    "pho": (
        "Pho: Vietnamese soup of rice noodles in a clear beef broth spiced with star "
        "anise and cinnamon, topped with herbs and lime."
    ),
    "paella": (
        "Paella: Spanish rice dish from Valencia cooked in a wide shallow pan with "
        "saffron, chicken, rabbit or seafood."
    ),
    "kimchi": (
        "Kimchi: Korean side dish of salted and fermented napa cabbage and radish with "
        "chili pepper, garlic and ginger."
    ),
    "guacamole": (
        "Guacamole: a dip of mashed avocado with lime juice, onion, tomato, chili and cilantro."
    ),
    "hummus": (
        "Hummus: a Middle Eastern spread of blended chickpeas, tahini, lemon juice and "
        "garlic, eaten with pita bread."
    ),
    "tiramisu": (
        "Tiramisu: Italian dessert of ladyfingers dipped in espresso coffee, layered with"
        " whipped mascarpone cream and dusted with cocoa."
    ),
    "pad-thai": (
        "Pad Thai: stir-fried rice noodles with egg, tofu or shrimp, bean sprouts, "
        "peanuts and tamarind sauce from Thailand."
    ),
    "ramen": (
        "Ramen: Japanese wheat noodles in a rich pork or miso broth with a soft-boiled "
        "egg, sliced pork and green onion."
    ),
    "caesar-salad": (
        "Caesar salad: romaine lettuce with croutons, parmesan cheese and a dressing of "
        "anchovy, egg yolk, lemon and garlic."
    ),
    "fish-and-chips": (
        "Fish and chips: battered deep-fried cod or haddock served with thick fried "
        "potato chips, a British takeaway classic."
    ),
    "borscht": (
        "Borscht: a sour beetroot soup from Eastern Europe, deep red in colour, served "
        "with a spoon of sour cream and dill."
    ),
    "falafel": (
        "Falafel: deep-fried balls of ground chickpeas or fava beans with herbs, served "
        "in pita with tahini sauce."
    ),
    "butter-chicken": (
        "Butter chicken: Indian curry of tandoori chicken simmered in a mild creamy "
        "tomato and butter sauce, served with naan."
    ),
    "cheesecake": (
        "Cheesecake: a rich dessert with a thick creamy layer of cream cheese on a "
        "crushed biscuit base, often topped with berries."
    ),
    "ceviche": (
        "Ceviche: Peruvian dish of raw fish cured in lime juice with chili, red onion and"
        " coriander."
    ),
    "pizza": (
        "Margherita pizza: thin Neapolitan flatbread baked in a wood-fired oven, topped "
        "with tomato sauce, mozzarella and fresh basil."
    ),
    "baklava": (
        "Baklava: a sweet pastry of thin layered filo dough filled with chopped nuts and "
        "soaked in honey syrup, from Turkey and Greece."
    ),
}

QUESTIONS = [
    ("Which spicy fermented cabbage side dish comes from Korea?", "kimchi"),
    ("What can I dip tortilla chips into that is made of mashed avocados?", "guacamole"),
    ("Recommend a coffee-flavoured Italian dessert with mascarpone.", "tiramisu"),
    ("Which deep red soup is made from beets?", "borscht"),
    ("What crescent-shaped buttery pastry do the French eat for breakfast?", "croissant"),
]


@pytest.fixture(scope="module")
def food_namespace(minilm_server: VectorServer) -> str:
    namespace = "semantic-foods"
    minilm_server.index().upsert(
        [Data(id=dish, data=text) for dish, text in FOODS.items()], namespace=namespace
    )
    return namespace


@pytest.mark.parametrize(("question", "dish"), QUESTIONS)
def test_a_paraphrased_question_finds_the_intended_dish_first(
    minilm_server: VectorServer, food_namespace: str, question: str, dish: str
) -> None:
    results = minilm_server.index(readonly=True).query(
        data=question, top_k=3, namespace=food_namespace
    )

    assert results[0].id == dish, [(r.id, round(r.score, 3)) for r in results]


def test_the_minilm_service_reports_its_model_and_dimension(minilm_server: VectorServer) -> None:
    info = minilm_server.index().info()

    assert info.dense_index is not None
    assert info.dense_index.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert info.dimension == 384
