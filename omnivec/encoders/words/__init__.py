"""Word vectors on gensim: Word2Vec and FastText trained on a corpus, or pretrained files."""

from omnivec.encoders.words.encoder import (
    FastTextConfig,
    FastTextEncoder,
    Word2VecConfig,
    Word2VecEncoder,
    WordEncoder,
)

__all__ = ["FastTextConfig", "FastTextEncoder", "Word2VecConfig", "Word2VecEncoder", "WordEncoder"]
