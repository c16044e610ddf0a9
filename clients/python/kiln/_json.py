"""Strict JSON for the protocol's files: what the C# kernel accepts, and the messages it gives when it does not.

Python's ``json`` accepts a key given twice, a lone surrogate escape and any depth; the protocol refuses them
(docs/protocol.md), so the Python kernel checks them here and both kernels ledger the same lines the same way.
"""
import json
import math

MAX_DEPTH = 64
MAX_LINE_BYTES = 1024 * 1024
_EXCERPT = 200


class ProtocolError(ValueError):
    """A one-line message naming the file, key or value at fault (the C# ProtocolException)."""


class _Duplicate(Exception):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def _pairs(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _Duplicate(k)
        seen[k] = v
    return seen


def _problem(node, path, depth):
    """The first value that is not text (a lone surrogate) or nests too deep, as ``path: what``."""
    if depth > MAX_DEPTH:
        return f"invalid JSON: the document nests deeper than {MAX_DEPTH} levels"
    prefix = path + ": " if path else ""
    if isinstance(node, str):
        return _surrogate(node, prefix)
    if isinstance(node, dict):
        for k, v in node.items():
            bad = _surrogate(k, prefix)
            if bad:
                return bad
            where = f"{path}.{k}" if path else k
            bad = _problem(v, where, depth + 1)
            if bad:
                return bad
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad = _problem(v, f"{path}[{i}]", depth + 1)
            if bad:
                return bad
    return None


def _surrogate(text, prefix):
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            return (f"{prefix}{excerpt(json.dumps(text))} is not text: \\u{ord(ch):x} is a lone surrogate "
                    "(a character beyond U+FFFF is escaped as a pair, \\ud83d\\ude00)")
    return None


def parse(data):
    """Parses one JSON document from bytes or text; raises ProtocolError with the protocol's message."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"bytes at {e.start} are not valid UTF-8") from None
    else:
        text = data
    try:
        node = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except _Duplicate as d:
        raise ProtocolError(f"duplicate key \"{excerpt(d.key)}\"") from None
    except RecursionError:
        raise ProtocolError(f"invalid JSON: the document nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as e:
        raise ProtocolError(f"invalid JSON: {e}") from None
    bad = _problem(node, "", 0)
    if bad:
        raise ProtocolError(bad)
    if node is None:
        raise ProtocolError("expected a JSON object, got null")
    return node


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def dumps(node):
    """Compact JSON, as the C# kernel writes it; non-finite numbers never reach a file."""
    return json.dumps(node, separators=(",", ":"), allow_nan=False)


def excerpt(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "…"


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def format_number(d):
    """Shortest round-trip text with a lower-case exponent (``3e-05``, ``0.001``, ``42``), as .NET's "R" writes it."""
    if isinstance(d, int):
        return str(d)
    if math.isfinite(d) and d == int(d) and abs(d) < 1e15:
        return str(int(d))
    text = repr(d)
    if text in ("inf", "-inf", "nan"):
        return {"inf": "∞", "-inf": "-∞", "nan": "NaN"}[text]
    return text


def show(v):
    """A value the way error messages quote it."""
    if v is None:
        return "null"
    if is_number(v):
        return format_number(v)
    return excerpt(json.dumps(v, separators=(",", ":")), _EXCERPT)


def get_double(v, key):
    if not is_number(v):
        raise ProtocolError(f"{key}: expected a number, got {show(v)}")
    d = float(v)
    if not math.isfinite(d):
        raise ProtocolError(f"{key}: expected a finite number, got {show(v)}")
    return d


def try_long(v):
    if not is_number(v):
        return None
    d = float(v)
    if not math.isfinite(d) or d != math.floor(d) or abs(d) > 9.007199254740992e15:
        return None
    return int(d)


def get_long(v, key):
    n = try_long(v)
    if n is None:
        raise ProtocolError(f"{key}: expected an integer, got {show(v)}")
    return n


def get_bool(v, key):
    if isinstance(v, bool):
        return v
    raise ProtocolError(f"{key}: expected true or false, got {show(v)}")


def get_string(v, key):
    if isinstance(v, str):
        return v
    raise ProtocolError(f"{key}: expected a string, got {show(v)}")


def optional_string(o, key, prefix=""):
    v = o.get(key)
    return None if v is None else get_string(v, prefix + key)


def get_object(v, key):
    if isinstance(v, dict):
        return v
    raise ProtocolError(f"{key}: expected an object, got {show(v)}")


def reject_unknown_keys(o, known, where):
    for k in o:
        if k not in known:
            raise ProtocolError(f"{where}unknown key '{k}' (known: {', '.join(known)})")


def check_bounds(key, value, bounds):
    lo, hi = bounds
    if value < lo:
        return f"{key}: {format_number(value)} below min {format_number(lo)}"
    if value > hi:
        return f"{key}: {format_number(value)} above max {format_number(hi)}"
    return None
