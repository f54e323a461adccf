"""One router per concern; functions/ask/app.py includes them all."""
