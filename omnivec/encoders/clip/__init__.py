"""CLIP (open_clip): text and images in one space; contrastive fine-tuning with checkpoints."""

from omnivec.encoders.clip.encoder import CHECKPOINT_FORMAT, ClipConfig, ClipEncoder
from omnivec.encoders.clip.images import THUMBNAIL_PX, load_image, thumbnail_data_uri

__all__ = [
    "CHECKPOINT_FORMAT",
    "THUMBNAIL_PX",
    "ClipConfig",
    "ClipEncoder",
    "load_image",
    "thumbnail_data_uri",
]
