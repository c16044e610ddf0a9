"""``kiln.adjust.yaml``: an overlay applied to a recipe before ``replay_adjusted`` (docs/protocol.md)."""
import os

from . import _json, _yaml
from ._json import ProtocolError, get_object, reject_unknown_keys
from .command import recipe_entry_from_json

_MATCH = ["module", "op", "id", "at_event", "at_step", "step_min", "step_max", "has_param", "nth"]


def load_overlay(path):
    with open(path, "rb") as f:
        data = f.read()
    node = _yaml.load(data) if path.endswith((".yaml", ".yml")) else _json.parse(data)
    o = get_object(node, os.path.basename(path))
    reject_unknown_keys(o, ["version", "patches"], "")
    patches = o.get("patches") or []
    if not isinstance(patches, list):
        raise ProtocolError("patches: expected a list")
    for i, p in enumerate(patches):
        reject_unknown_keys(get_object(p, f"patches[{i}]"), ["match", "drop", "replace_params", "transform_params", "shift_step", "insert"], f"patches[{i}]: ")
        if p.get("match") is not None:
            reject_unknown_keys(get_object(p["match"], f"patches[{i}].match"), _MATCH, f"patches[{i}].match: ")
    return patches


def _matches(e, m):
    if "module" in m and e.module != m["module"]:
        return False
    if "op" in m and e.op != m["op"]:
        return False
    if "id" in m and e.id != m["id"]:
        return False
    if "at_event" in m and e.event != m["at_event"]:
        return False
    if "at_step" in m and e.step != m["at_step"]:
        return False
    if "step_min" in m and e.step < m["step_min"]:
        return False
    if "step_max" in m and e.step > m["step_max"]:
        return False
    if "has_param" in m and m["has_param"] not in (e.params or {}):
        return False
    return True


def apply_overlay(entries, patches, notes):
    """drop → replace_params → transform_params → shift_step on each patch's matches, inserts added; ordered by step."""
    entries = list(entries)
    for i, p in enumerate(patches):
        if p.get("insert") is not None:
            entries.append(recipe_entry_from_json(p["insert"]))
        m = p.get("match")
        if m is None:
            continue
        hits = [e for e in entries if _matches(e, m)]
        if "nth" in m:
            hits = hits[m["nth"]:m["nth"] + 1] if 0 <= m["nth"] < len(hits) else []
        if not hits:
            notes.append(f"patch {i} matched nothing")
        for e in hits:
            if p.get("drop"):
                entries.remove(e)
                continue
            if p.get("replace_params"):
                e.params = {**(e.params or {}), **p["replace_params"]}
            for key, t in (p.get("transform_params") or {}).items():
                if e.params and _json.is_number(e.params.get(key)):
                    e.params[key] = e.params[key] * t.get("scale", 1) + t.get("add", 0)
            if p.get("shift_step"):
                e.step += p["shift_step"]
    return sorted(entries, key=lambda e: e.step)
