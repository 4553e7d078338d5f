"""GraphSAGE: inductive node vectors from node features and the graph (PyG ``SAGEConv``)."""

from omnivec.encoders.graphsage.encoder import GraphSAGEConfig, GraphSAGEEncoder

__all__ = ["GraphSAGEConfig", "GraphSAGEEncoder"]
