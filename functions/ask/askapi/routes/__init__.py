"""One module per route; functions/ask/app.py adds them all: /ask registers itself on the app
(built once, not again at its first request: askapi.routes.ask.register), the others are routers
it includes."""
