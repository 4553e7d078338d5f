"""The HTTP API (FastAPI under uvicorn) and the web page at ``/``.

Every error answers ``{"error": "<ErrorClass or short code>", "detail": "<one line>"}``:
bad input is a 4xx, never a 500. ``omnivec serve`` calls :func:`serve`; embed the API in
your own ASGI app with :func:`create_app`.

Modules: ``app`` (routes, :func:`create_app`), ``auth`` (API key, read-only), ``batching``
(cross-request micro-batching of searches), ``schemas`` (request bodies), ``responses``
(errors as JSON), ``run`` (:func:`serve`, ``python -m omnivec.server``).
"""

from __future__ import annotations

from omnivec.server.app import MAX_BODY_BYTES, create_app
from omnivec.server.run import main, serve

__all__ = ["MAX_BODY_BYTES", "create_app", "main", "serve"]
