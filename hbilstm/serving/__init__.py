"""``hbilstm serve``: a trained model behind a small HTTP API.

* :mod:`.settings` - the service's limits and batching options, checked once.
* :mod:`.batcher` - gathers concurrent requests into one model call, run off the event loop.
* :mod:`.requests` - reads and checks a ``POST /predict`` body; every problem is a clear 4xx.
* :mod:`.metadata` - what ``GET /metadata`` reports about the model.
* :mod:`.app` - the FastAPI application: routes and error handlers.

FastAPI and uvicorn are optional (``pip install "hbilstm[serve]"``); nothing here is imported by
``import hbilstm`` or by the other commands.
"""
