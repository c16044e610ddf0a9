"""A YAML reader for the protocol's small files (``kiln.yaml``, ``kiln.adjust.yaml``), standard library only.

It reads the subset those files use — block mappings and sequences, flow ``{…}``/``[…]``, plain and quoted scalars,
comments — under the YAML 1.2 core schema the C# side uses: ``1e-4`` and ``0`` are numbers, ``true``/``false``
booleans, ``yes``/``on`` strings. Anchors, aliases, tags and multi-line scalars are refused with the line at fault
(``kiln.yaml`` has no use for them), so nothing here can grow a document beyond its size.
"""
import json
import re

from ._json import ProtocolError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def load(data):
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise ProtocolError(f"{len(data)} bytes is too large for a YAML file (at most {MAX_BYTES} bytes)")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ProtocolError(f"byte {e.start}: not valid UTF-8") from None
    lines = []
    for number, raw in enumerate(data.split("\n"), 1):
        text = _strip_comment(raw.rstrip("\r"))
        if text.strip() in ("", "---", "..."):
            continue
        if "\t" in text[: len(text) - len(text.lstrip())]:
            raise ProtocolError(f"line {number}, column 1: tabs cannot indent YAML")
        lines.append((number, len(text) - len(text.lstrip(" ")), text.strip()))
    if not lines:
        return None
    p = _Parser(lines)
    node = p.block(0, lines[0][1], 0)
    if p.i < len(lines):
        n, ind, _ = lines[p.i]
        raise ProtocolError(f"line {n}, column {ind + 1}: malformed YAML (check brackets, quotes and indentation)")
    return node


def _strip_comment(s):
    quote = None
    for i, ch in enumerate(s):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or s[i - 1] in " \t"):
            return s[:i].rstrip()
    return s


class _Parser:
    def __init__(self, lines):
        self.lines = lines
        self.i = 0

    def block(self, depth, indent, _):
        if depth > MAX_DEPTH:
            n = self.lines[self.i][0]
            raise ProtocolError(f"line {n}, column 1: nested deeper than {MAX_DEPTH} levels")
        n, ind, text = self.lines[self.i]
        if text.startswith("- ") or text == "-":
            return self._sequence(depth, ind)
        if _key_split(text) is not None:
            return self._mapping(depth, ind)
        self.i += 1
        return scalar(text, n, ind)

    def _sequence(self, depth, indent):
        out = []
        while self.i < len(self.lines):
            n, ind, text = self.lines[self.i]
            if ind != indent or not (text.startswith("- ") or text == "-"):
                break
            rest = text[1:].strip()
            if not rest:
                self.i += 1
                out.append(self._child(depth, indent, n))
            elif _key_split(rest) is not None and not rest.startswith(("{", "[", "'", '"')):
                # "- key: value" opens a mapping whose keys sit two columns in.
                self.lines[self.i] = (n, ind + 2, rest)
                out.append(self._mapping(depth + 1, ind + 2))
            else:
                self.i += 1
                out.append(scalar(rest, n, ind + 2))
        return out

    def _mapping(self, depth, indent):
        out = {}
        while self.i < len(self.lines):
            n, ind, text = self.lines[self.i]
            if ind != indent:
                if ind > indent:
                    raise ProtocolError(f"line {n}, column {ind + 1}: malformed YAML (check brackets, quotes and indentation)")
                break
            split = _key_split(text)
            if split is None:
                raise ProtocolError(f"line {n}, column {ind + 1}: malformed YAML (expected key: value)")
            key, rest = split
            key = scalar(key, n, ind) if key[:1] in "'\"" else key
            if key in out:
                raise ProtocolError(f"line {n}, column {ind + 1}: duplicate key \"{key}\"")
            self.i += 1
            out[str(key)] = scalar(rest, n, ind) if rest else self._child(depth, indent, n)
        return out

    def _child(self, depth, indent, n):
        if self.i < len(self.lines):
            cn, cind, ctext = self.lines[self.i]
            if cind > indent or (cind == indent and (ctext.startswith("- ") or ctext == "-")):
                return self.block(depth + 1, cind, n)
        return None


def _key_split(text):
    if text[:1] in "{[":
        return None
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"" and i == 0:
            quote = ch
        elif ch == ":" and (i + 1 == len(text) or text[i + 1] == " "):
            return text[:i].strip(), text[i + 1:].strip()
    return None


def scalar(text, n, col):
    if text[:1] in "&*!|>":
        raise ProtocolError(f"line {n}, column {col + 1}: anchors, aliases, tags and block scalars are not supported in this file")
    if text[:1] in "{[":
        return _Flow(text, n, col).whole()
    return _plain(text, n, col)


def _plain(text, n, col):
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise ProtocolError(f"line {n}, column {col + 1}: malformed YAML (an unclosed quote)")
        try:
            return json.loads(text)
        except ValueError:
            raise ProtocolError(f"line {n}, column {col + 1}: malformed YAML (a bad escape in a quoted string)") from None
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ProtocolError(f"line {n}, column {col + 1}: malformed YAML (an unclosed quote)")
        return text[1:-1].replace("''", "'")
    if text in ("null", "Null", "NULL", "~", ""):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        v = float(text)
        if v in (float("inf"), float("-inf")):
            raise ProtocolError(f"line {n}, column {col + 1}: {text} is beyond the range of a number")
        return v
    if text in (".inf", ".Inf", ".INF", "+.inf", "-.inf", ".nan", ".NaN", ".NAN"):
        return float(text.replace(".", "", 1).lower().replace("nan", "nan"))
    return text


class _Flow:
    def __init__(self, text, n, col):
        self.s, self.n, self.col, self.i = text, n, col, 0

    def error(self, what="malformed YAML (check brackets, quotes and indentation)"):
        return ProtocolError(f"line {self.n}, column {self.col + self.i + 1}: {what}")

    def whole(self):
        v = self.value(0)
        self.ws()
        if self.i != len(self.s):
            raise self.error()
        return v

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1

    def value(self, depth):
        if depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH} levels")
        self.ws()
        if self.i >= len(self.s):
            raise self.error()
        ch = self.s[self.i]
        if ch == "{":
            return self.collection(depth, "}", True)
        if ch == "[":
            return self.collection(depth, "]", False)
        if ch in "'\"":
            end = self.i + 1
            while end < len(self.s):
                if self.s[end] == ch and (ch == "'" or self.s[end - 1] != "\\"):
                    if ch == "'" and end + 1 < len(self.s) and self.s[end + 1] == "'":
                        end += 2
                        continue
                    break
                end += 1
            if end >= len(self.s):
                raise self.error("malformed YAML (an unclosed quote)")
            token = self.s[self.i:end + 1]
            self.i = end + 1
            return _plain(token, self.n, self.col)
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ",]}" and not (self.s[self.i] == ":" and (self.i + 1 == len(self.s) or self.s[self.i + 1] in " ,]}")):
            self.i += 1
        return scalar(self.s[start:self.i].strip(), self.n, self.col + start)

    def collection(self, depth, close, mapping):
        self.i += 1
        out = {} if mapping else []
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == close:
            self.i += 1
            return out
        while True:
            if mapping:
                key = self.value(depth + 1)
                self.ws()
                if self.i >= len(self.s) or self.s[self.i] != ":":
                    raise self.error()
                self.i += 1
                key = str(key)
                if key in out:
                    raise self.error(f"duplicate key \"{key}\"")
                out[key] = self.value(depth + 1)
            else:
                out.append(self.value(depth + 1))
            self.ws()
            if self.i >= len(self.s):
                raise self.error()
            if self.s[self.i] == ",":
                self.i += 1
                continue
            if self.s[self.i] == close:
                self.i += 1
                return out
            raise self.error()
