"""Image inputs for CLIP: decoding paths, bytes, PIL images and arrays, and thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import InvalidInputError

__all__ = ["THUMBNAIL_PX", "load_image", "thumbnail_data_uri"]

THUMBNAIL_PX = 64


def _describe(item: Any) -> str:
    if isinstance(item, str | Path):
        return f" ({str(item)[:200]})"
    return ""


def load_image(item: Any, index: int = 0, draft: int | None = None) -> Any:
    """Decode one image input into an RGB ``PIL.Image``.

    ``item`` is a ``PIL.Image``, a path (str or Path), encoded bytes, or a uint8 array of
    shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). ``draft`` lets JPEG decoding downscale
    to about that many pixels (fast thumbnails). Anything unreadable raises
    :class:`InvalidInputError` naming ``index``.
    """
    from PIL import Image, UnidentifiedImageError

    where = f"image item {index}{_describe(item)}"
    try:
        if isinstance(item, Image.Image):
            img = item
            img.load()
        elif isinstance(item, str | Path):
            path = Path(item).expanduser()
            if not path.is_file():
                raise InvalidInputError(f"{where}: no such file; pass an existing image path")
            img = Image.open(path)
            if draft is not None:
                img.draft("RGB", (draft, draft))
            img.load()
        elif isinstance(item, bytes | bytearray | memoryview):
            data = bytes(item)
            if not data:
                raise InvalidInputError(f"{where}: empty bytes; pass encoded image bytes")
            img = Image.open(io.BytesIO(data))
            if draft is not None:
                img.draft("RGB", (draft, draft))
            img.load()
        elif isinstance(item, np.ndarray):
            img = _from_array(item, where)
        else:
            raise InvalidInputError(
                f"{where} is a {type(item).__name__}; pass a PIL image, a path, bytes "
                "or an HxWxC uint8 array"
            )
    except InvalidInputError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise InvalidInputError(
            f"{where} could not be decoded ({exc}); pass a valid image"
        ) from exc
    if img.width == 0 or img.height == 0:
        raise InvalidInputError(f"{where} has zero size ({img.width}x{img.height})")
    return img if img.mode == "RGB" else img.convert("RGB")


def _from_array(arr: np.ndarray, where: str) -> Any:
    from PIL import Image

    if arr.dtype != np.uint8:
        raise InvalidInputError(
            f"{where} is a {arr.dtype} array; pass uint8 values 0-255 (e.g. (x * 255).astype(np.uint8))"
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InvalidInputError(f"{where} has shape {arr.shape}; pass (H, W) or (H, W, 3|4)")
    if arr.size == 0:
        raise InvalidInputError(f"{where} has zero size {arr.shape}")
    return Image.fromarray(np.ascontiguousarray(arr))


def thumbnail_data_uri(img: Any, px: int = THUMBNAIL_PX) -> str:
    """A small JPEG ``data:`` URI (longest side at most ``px``) of an RGB ``PIL.Image``."""
    thumb = img.copy()
    thumb.thumbnail((px, px))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
