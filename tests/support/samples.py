"""Small knowledge-base items shared by the test suites (the full data set is data/foods.json)."""

PHO = {
    "id": "pho",
    "text": "Pho is a Vietnamese noodle soup with beef broth.",
    "region": "Vietnam",
    "type": "soup",
}
FEIJOADA = {
    "id": "feijoada",
    "text": "Feijoada is a Brazilian black bean stew with pork.",
    "region": "Brazil",
    "type": "main dish",
}
BAKLAVA = {
    "id": "baklava",
    "text": "Baklava is a layered pastry with nuts and honey.",
    "region": "Turkey",
    "type": "dessert",
}
MOCHI = {
    "id": "mochi",
    "text": "Mochi is a Japanese rice cake.",
    "region": "Japan",
    "type": "dessert",
}
GAZPACHO = {
    "id": "gazpacho",
    "text": "Gazpacho is a cold Spanish tomato soup.",
    "region": "Spain",
    "type": "soup",
}
