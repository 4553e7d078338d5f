"""The orchestration layer: encoder protocol, registry, catalog, query layer, platform."""
