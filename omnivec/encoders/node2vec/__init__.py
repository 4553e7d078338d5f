"""Node2Vec: a numba p/q random walker, sparse skip-gram in torch, and graph input parsing."""

from omnivec.encoders.node2vec.encoder import FitParams, Node2VecConfig, Node2VecEncoder
from omnivec.encoders.node2vec.graph import ParsedGraph, parse_graph

__all__ = ["FitParams", "Node2VecConfig", "Node2VecEncoder", "ParsedGraph", "parse_graph"]
