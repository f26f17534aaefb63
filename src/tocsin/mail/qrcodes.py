"""QR codes in images: the link a phone would open, read with zxing-cpp from a Pillow image.

A QR code in a mail ("quishing") moves the link out of reach of the text and HTML checks and onto
a phone, so image attachments (and later inline images) are decoded here. Images are hostile
input: only the common web formats are opened, the pixel count is checked from the header
before anything is decoded (a small file can declare a huge canvas), and big images are decoded
at a reduced scale, which keeps a scan to a few milliseconds.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field

import zxingcpp
from PIL import Image

DEFAULT_MAX_PIXELS = 16_000_000
MAX_SIDE = 1200
"""Longest side the decoder sees: QR codes sent by mail are large, and the cost grows with area."""
MIN_SIDE = 21
"""The smallest QR code (version 1) is 21 modules wide: anything smaller holds none."""
MAX_CODES = 20

_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
_QR = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode])


@dataclass(frozen=True, slots=True)
class QrScan:
    """The texts of the QR codes found in one image, and why it could not be read if it was not."""

    texts: list[str] = field(default_factory=list)
    issue: str | None = None


def scan_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> QrScan:
    """Decode the QR codes in an image; never raises on what the image contains."""
    try:
        # Pillow warns (and, past twice its own limit, raises) on huge canvases; our own,
        # lower limit is checked first, so its warning only says what we report anyway
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_FORMATS) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return QrScan(
                        issue=f"image of {width}x{height} pixels is over the "
                        f"{max_pixels:,}-pixel limit: not scanned for QR codes"
                    )
                if min(width, height) < MIN_SIDE:
                    return QrScan()
                gray = _grayscale(image)
        codes = zxingcpp.read_barcodes(gray, formats=_QR)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # past Pillow's own ceiling (89M pixels) the header is all it reads
        return QrScan(issue="image over the decompression-bomb limit: not scanned for QR codes")
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on broken images
        return QrScan(issue=f"unreadable image ({type(exc).__name__})")
    texts = [code.text for code in codes[:MAX_CODES] if code.text]
    return QrScan(texts=texts)


def decode_qr(image_bytes: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[str]:
    """The texts of the QR codes in an image (empty when there are none or it cannot be read)."""
    return scan_image(image_bytes, max_pixels=max_pixels).texts


def _grayscale(image: Image.Image) -> Image.Image:
    """The image in 8-bit gray, on white where it is transparent, no bigger than ``MAX_SIDE``."""
    if image.format == "JPEG":
        # the JPEG decoder can scale by 1/2 to 1/8 while decoding, far cheaper than resizing
        image.draft("L", (MAX_SIDE, MAX_SIDE))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # a code drawn on a transparent canvas turns all black in gray unless it sits on white
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    gray = image.convert("L")
    factor = math.ceil(max(gray.size) / MAX_SIDE)
    return gray.reduce(factor) if factor > 1 else gray
