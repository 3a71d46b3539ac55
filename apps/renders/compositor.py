"""Deterministic text compositing: the engine draws the art, RenderHub sets the exact text."""


def composite_text(
    *, image: bytes, texts: dict[str, str], regions: dict[str, list[float]], palette: list[str]
) -> bytes:
    """Set each slot's text into its region. (Placeholder: returns the image unchanged.)"""
    return image
