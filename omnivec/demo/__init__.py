"""`omnivec demo`: one part per domain, each using only the public API.

Each part module (text, images, graph, recs) has ``run(plat, say) -> dict`` that builds its
collections in ``plat``, prints what it shows through ``say`` and returns a JSON-able summary.
"""
