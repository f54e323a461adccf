"""The ask API's parts, one concern per module; functions/ask/app.py assembles them into the app.

schemas (request/response models), errors (the one error shape and the status of each failure),
middleware (JSON bodies, stage prefix), routes/ (ask, stream, page, health), page/ (the web page).
"""
