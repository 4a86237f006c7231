"""Text made safe for the files this app writes: XML 1.0 attribute values and M3U lines."""

import re
import unicodedata

# What XML 1.0 forbids (C0 controls but tab, newline, carriage return; lone surrogates;
# U+FFFE, U+FFFF): dropped. A lone surrogate (JSON allows "\ud800") could not even be
# encoded as UTF-8.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Every control character and line separator: one line of M3U must stay one line.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_ATTRIBUTE_SPECIAL = re.compile('[&<>"\n\r\t]')


def xml_attribute(value) -> str:
    """`value` as the text between the quotes of an XML attribute: escaped (newlines and tabs
    as character references, so a parser gives them back), forbidden characters dropped."""
    text = value if isinstance(value, str) else str(value)
    if _XML_FORBIDDEN.search(text) is not None:
        text = _XML_FORBIDDEN.sub("", text)
    if _ATTRIBUTE_SPECIAL.search(text) is not None:
        text = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
                .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    return text


def one_line(value) -> str:
    """`value` on one line: every control character and line separator becomes a space."""
    return _LINE_BREAKING.sub(" ", str(value))


def has_control(text: str) -> bool:
    return _LINE_BREAKING.search(text) is not None


def ascii_filename(name: str) -> str:
    """A file name any client accepts: ASCII letters, digits, space, `.`, `_`, `-`."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9 ._-]+", "_", folded).strip(" ._")
    return safe[:100] or "playlist"


def clean_name(name: str, max_length: int) -> str:
    """A readable name from untrusted text (a playlist's): one line, trimmed, cut to size."""
    return re.sub(r"\s+", " ", one_line(name)).strip()[:max_length].strip()
