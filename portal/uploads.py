"""Uploaded files as services see them (no web types), and the checks they must pass.

Images are decoded and re-encoded with Pillow: what is stored is a picture we wrote, never
the bytes we were sent (a polyglot file or script cannot survive), and EXIF metadata such as
the GPS position of a phone photo is dropped. Proofs of purchase may also be PDFs, which
are checked by signature and served back only as downloads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from portal.i18n import N_

Image.MAX_IMAGE_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded

IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_SIDE = 2400  # larger photos are scaled down: enough to see a burnt capacitor


class BadUpload(ValueError):
    """The file is refused; the message is for the user (translatable)."""


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def safe_filename(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in base).strip(" .")
    return (cleaned or "upload")[:120]


def clean_image(upload: Upload, *, max_bytes: int = 5 * 1024 * 1024) -> Upload:
    """A JPEG, PNG or WebP photo, re-encoded without metadata. Raises BadUpload."""
    if upload.size == 0:
        raise BadUpload(N_("The file is empty."))
    if upload.size > max_bytes:
        raise BadUpload(N_("The file is too large (at most 5 MB)."))
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            kind = probe.format or ""
            probe.verify()
        if kind not in IMAGE_FORMATS:
            raise BadUpload(N_("Upload a photo in JPEG, PNG or WebP format."))
        with Image.open(io.BytesIO(upload.data)) as opened:
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            if kind == "JPEG":
                image.convert("RGB").save(out, "JPEG", quality=85)
            else:
                image.save(out, kind)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadUpload(N_("Upload a photo in JPEG, PNG or WebP format.")) from exc
    stem = safe_filename(upload.filename).rsplit(".", 1)[0]
    extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[kind]
    return Upload(filename=f"{stem}.{extension}", content_type=IMAGE_FORMATS[kind], data=out.getvalue())


def clean_document(upload: Upload, *, max_bytes: int = 5 * 1024 * 1024) -> Upload:
    """A proof of purchase: a PDF (checked by signature) or a photo (as `clean_image`)."""
    if upload.size == 0:
        raise BadUpload(N_("The file is empty."))
    if upload.size > max_bytes:
        raise BadUpload(N_("The file is too large (at most 5 MB)."))
    if upload.data.startswith(b"%PDF-"):
        stem = safe_filename(upload.filename).rsplit(".", 1)[0]
        return Upload(filename=f"{stem}.pdf", content_type="application/pdf", data=upload.data)
    try:
        return clean_image(upload, max_bytes=max_bytes)
    except BadUpload as exc:
        raise BadUpload(N_("Upload the receipt as a PDF or a photo (JPEG, PNG or WebP).")) from exc
