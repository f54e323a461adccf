#!/bin/bash
# Entry point of the streaming function (AskStreamFunction): AWS Lambda Web Adapter (the layer's
# /opt/bootstrap, set as AWS_LAMBDA_EXEC_WRAPPER) runs this instead of a Python handler, then
# forwards each API Gateway request to the server started here and streams its response back.
# The app is the very module AskFunction serves with Mangum (app.py). As for a Python handler, the
# function's own folder comes before the layer (/opt/python) on the import path.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-$(dirname "$0")}:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn app:app --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --no-access-log --timeout-keep-alive 60
