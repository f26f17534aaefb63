"""QR codes read from images the tests draw with zxing-cpp and Pillow."""

from __future__ import annotations

import zlib

from PIL import Image, ImageOps

from tests.mail.attachment_fixtures import attachment, encode_image, qr_image
from tocsin.mail.attachments import QR_CODE, FoundUrl, Limits, inspect_attachments
from tocsin.mail.qrcodes import QrScan, decode_qr, scan_image

URL = "https://pay.example/login?id=42"


def test_decode_qr_reads_png_jpeg_gif_bmp_and_webp():
    image = qr_image(URL)
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP"):
        assert decode_qr(encode_image(image, fmt)) == [URL], fmt


def test_a_code_on_a_transparent_canvas_is_read_on_white():
    # black modules on a fully transparent canvas, as image editors export them
    modules = ImageOps.invert(qr_image(URL))
    symbol = Image.new("RGBA", modules.size, (0, 0, 0, 0))
    symbol.paste((0, 0, 0, 255), mask=modules)
    assert decode_qr(encode_image(symbol)) == [URL]


def test_a_large_image_is_scaled_down_and_still_read():
    image = qr_image(URL, canvas=(3600, 2400), scale=30)
    assert decode_qr(encode_image(image, "JPEG")) == [URL]
    assert decode_qr(encode_image(image)) == [URL]


def test_the_pixel_limit_is_checked_before_decoding():
    scan = scan_image(encode_image(qr_image(URL)), max_pixels=10_000)
    assert scan == QrScan(
        texts=[],
        issue="image of 400x400 pixels is over the 10,000-pixel limit: not scanned for QR codes",
    )


def test_a_huge_declared_canvas_costs_nothing():
    # a tiny PNG whose header declares a huge canvas: only the header is read
    for side, issue in (
        (5_000, "image of 5000x5000 pixels is over the 16,000,000-pixel limit"),
        (100_000, "image over the decompression-bomb limit"),
    ):
        png = bytearray(encode_image(Image.new("L", (1, 1))))
        png[16:24] = side.to_bytes(4, "big") * 2
        png[29:33] = zlib.crc32(png[12:29]).to_bytes(4, "big")
        scan = scan_image(bytes(png))
        assert scan.texts == [] and scan.issue is not None
        assert scan.issue.startswith(issue)


def test_broken_and_foreign_images_are_issues():
    png = encode_image(qr_image(URL))
    assert scan_image(png[:200]).issue == "unreadable image (OSError)"
    assert scan_image(b"not an image at all").issue == "unreadable image (UnidentifiedImageError)"
    tiff = encode_image(qr_image(URL), "TIFF")  # not a format mail clients show inline
    assert scan_image(tiff).issue == "unreadable image (UnidentifiedImageError)"


def test_images_without_codes_and_tiny_images_give_nothing():
    assert scan_image(encode_image(Image.new("RGB", (300, 200), (200, 30, 30)))) == QrScan()
    assert scan_image(encode_image(Image.new("L", (10, 10)))) == QrScan()


def test_qr_urls_from_image_attachments_with_where_and_reason():
    report = inspect_attachments(
        [
            attachment("scan.jpg", encode_image(qr_image(URL), "JPEG"), "image/jpeg"),
            attachment("bare.png", encode_image(qr_image("evil.example/pay")), "image/png"),
            attachment("wifi.png", encode_image(qr_image("WIFI:S:guest;T:WPA;P:pw;;"))),
        ]
    )
    assert report.urls == [
        FoundUrl(URL, "qr:scan.jpg"),
        FoundUrl("evil.example/pay", "qr:bare.png"),
    ]
    assert [(r.check, r.detail) for r in report.reasons] == [
        (QR_CODE, f"scan.jpg: QR code linking to {URL}"),
        (QR_CODE, "bare.png: QR code linking to evil.example/pay"),
    ]


def test_images_past_the_image_budget_are_not_scanned():
    png = encode_image(qr_image(URL))
    files = [attachment(f"{i}.png", png) for i in range(3)]
    report = inspect_attachments(files, limits=Limits(max_images=2))
    assert [u.where for u in report.urls] == ["qr:0.png", "qr:1.png"]
    assert report.issues == ["more than 2 images: the rest not scanned"]


def test_a_corrupt_png_attachment_is_an_issue_not_an_exception():
    broken = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x00" + b"!" * 64
    )
    report = inspect_attachments([attachment("bad.png", broken)])
    assert report.reasons == []
    assert report.issues and report.issues[0].startswith("bad.png: unreadable image")
