"""What every HTTP answer of ticketcore carries: the security headers of a page, and a
download that can neither run in the browser nor choose where it is saved."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response

from shared.domain import events as ev

# A download keeps its own type only when browsers show it inertly; anything else is
# sent as opaque bytes.
SAFE_CONTENT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "application/pdf",
                                "text/plain"})
MAX_FILENAME = 200


def security_headers(*, style_src: str, img_src: str = "'self'",
                     frame_src: str | None = None) -> dict[str, str]:
    """Headers of every page: no scripts at all, never framed, never cached, no referrer.

    Pages differ only in where styles, images and (the outbox's sandboxed mail) frames may
    come from; ``style_src`` is a hash or ``'unsafe-inline'``."""
    policy = ["default-src 'none'", f"style-src {style_src}", f"img-src {img_src}"]
    if frame_src is not None:
        policy.append(f"frame-src {frame_src}")
    policy += ["form-action 'self'", "base-uri 'none'", "frame-ancestors 'none'"]
    return {
        "Content-Security-Policy": "; ".join(policy),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cache-Control": "no-store",
    }


def download_name(filename: str) -> str:
    """The file's own name without folders or control characters (never empty)."""
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip().lstrip(".")
    return name[:MAX_FILENAME] or "attachment"


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact name (RFC 6266/5987)."""
    name = download_name(filename)
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_"
                       for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_media_type(content_type: str) -> str:
    """The type to send a file as: its own if inert, opaque bytes otherwise."""
    media_type = content_type.strip().lower()
    return media_type if media_type in SAFE_CONTENT_TYPES else "application/octet-stream"


def attachment_download(data: bytes, ref: ev.AttachmentRef,
                        headers: dict[str, str] | None = None) -> Response:
    """A stored file as a download (never shown inline), named and typed safely."""
    return Response(data, media_type=download_media_type(ref.content_type), headers={
        **(headers or {}), "Content-Disposition": content_disposition(ref.filename),
        "X-Content-Type-Options": "nosniff"})
