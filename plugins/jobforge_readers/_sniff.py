"""Looking at a file's bytes: what it really is, and where its text goes wrong."""

from __future__ import annotations

import codecs
from pathlib import Path

from jobforge.plugin import SourceError

_MAGIC = {
    b"PAR1": "parquet",
    b"PK\x03\x04": "a zip archive (xlsx?)",
    b"\x1f\x8b": "gzip",
    b"%PDF": "PDF",
}

_UTF_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _head(path: Path, size: int = 8) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def actual_kind(path: Path) -> str | None:
    """What the file's magic bytes say it is, or ``None`` for plain text."""
    head = _head(path)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def refuse_binary(path: Path, expected: str) -> None:
    """Refuse a parquet, zip, gzip or PDF file given as a text format."""
    kind = actual_kind(path)
    if kind is not None:
        raise SourceError(
            f"{path}: expected {expected}, but the file is {kind} "
            "(the file name's extension does not match its content)"
        )


def canonical_encoding(path: Path, encoding: str) -> str:
    """The codec's canonical name (``utf-8``, ``cp1252``, ``iso8859-1``...);
    an unknown name is refused."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise SourceError(f"{path}: unknown encoding {encoding!r}") from None


def refuse_utf16_as_utf8(path: Path, encoding: str, *, without_bom: bool = False) -> None:
    """A UTF-16/32 file read as UTF-8 would fail on its first byte, or, worse,
    read as text full of NUL characters: name the encoding to use instead.
    ``without_bom``: also refuse a file that looks like UTF-16 without a byte
    order mark (:func:`utf16_without_bom`)."""
    if not encoding.startswith("utf-8"):
        return
    head = _head(path, 4)
    for bom, name in _UTF_BOMS:
        if head.startswith(bom):
            raise SourceError(
                f"{path}: the file starts with a {name.upper()} byte order mark, not UTF-8 "
                f'(set the reader option encoding = "{name}")'
            )
    if without_bom:
        guess = utf16_without_bom(path)
        if guess is not None:
            raise SourceError(f"{path}: not UTF-8 text: {_utf16_advice(guess)}")


_SNIFF_BYTES = 4096


def utf16_without_bom(path: Path) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` when the file's first bytes look like UTF-16
    text without a byte order mark: NUL bytes at most odd (LE) or most even (BE)
    positions and almost none at the others, as ASCII-range characters give;
    else ``None``."""
    head = _head(path, _SNIFF_BYTES)
    head = head[: len(head) - len(head) % 2]
    if len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    zeros_even, zeros_odd = even.count(0), odd.count(0)
    pairs = len(head) // 2
    if zeros_odd >= pairs * 0.3 and zeros_even <= pairs * 0.02:
        return "utf-16-le"
    if zeros_even >= pairs * 0.3 and zeros_odd <= pairs * 0.02:
        return "utf-16-be"
    return None


def _utf16_advice(guess: str) -> str:
    return (
        f"it looks like {guess.upper()} text without a byte order mark (NUL bytes at every "
        f'other position); set the reader option encoding = "{guess}"'
    )


def nul_advice(path: Path) -> str:
    """What to say about a NUL character found in a file: UTF-16 without a
    byte order mark, if it looks like that, else binary data or another encoding."""
    guess = utf16_without_bom(path)
    if guess is not None:
        return f"({_utf16_advice(guess)})"
    return (
        "(binary data, or text in another encoding such as UTF-16? set the reader option encoding)"
    )


def decode_error(path: Path, encoding: str) -> SourceError:
    """The error for a file that is not valid ``encoding`` text, naming the first
    line (counted at ``\\n`` bytes) that does not decode and its bad bytes."""
    label = "UTF-8" if encoding.startswith("utf-8") else encoding
    hint = 'e.g. encoding = "cp1252"' if encoding.startswith("utf-8") else "to the file's encoding"
    guess = utf16_without_bom(path)
    if guess is not None and not encoding.startswith("utf-16"):
        return SourceError(f"{path}: not valid {label} text: {_utf16_advice(guess)}")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    where = "at the end of the file (a truncated multi-byte character)"
    with path.open("rb") as handle:
        try:
            for number, raw in enumerate(handle, start=1):
                try:
                    decoder.decode(raw)
                except UnicodeDecodeError as exc:
                    bad = exc.object[exc.start : exc.end][:4]
                    where = f"on line {number} (byte {bad.hex(' ')})"
                    break
            else:
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            pass
    return SourceError(
        f"{path}: not valid {label} text {where}; set the reader option encoding ({hint})"
    )
