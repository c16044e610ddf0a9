"""numb's SDK hooks for ``kiln train``, ``kiln trial`` and ``kiln queue run`` (docs/sdk.md, docs/protocol.md "Trainer
SDK files"): the model's architecture fingerprint, hyper-parameters, queue injection, trial results and the trained
weights as safetensors — files in the run directory that the parent reads.

    from kiln import sdk
    sdk.model(net, input_shape=(1, 784))       # kiln.model.json
    cfg = sdk.param(lr=0.01, steps=200)        # kiln.params.json (queue values win)
    ...
    sdk.trial_result(accuracy=acc)             # kiln.result.json (a trial)
    sdk.end(net)                               # weights.safetensors (a train or queue run)

Without ``KILN_RUN_DIR`` the program runs by hand: it writes none of these files and says so once on stderr.
"""
import atexit
import hashlib
import json
import os
import struct
import sys
import time

from . import _files

HEADER = "kiln-architecture/1"
MODEL, PARAMS, RESULT, CHOICE, WEIGHTS = "kiln.model.json", "kiln.params.json", "kiln.result.json", "kiln.choice.json", "weights.safetensors"


def run_dir():
    return os.environ.get("KILN_RUN_DIR") or None


def mode():
    """``train``, ``trial``, ``queue``, another launcher's mode (model and params only), or None by hand."""
    if not run_dir():
        return None
    return os.environ.get("KILN_MODE") or "train"


_said = False
_model = None
_params = {}
_result = {}
_saved = False


def _where(name):
    global _said
    d = run_dir()
    if d is None:
        if not _said:
            print("kiln: KILN_RUN_DIR is not set: running by hand, so no kiln.model.json, params, results or weights are written", file=sys.stderr)
            _said = True
        return None
    return os.path.join(d, name)


# ---- the architecture -------------------------------------------------------------------------------------------------
def _attributes(module):
    """Settings that shape the computation without showing in a parameter's shape (a convolution's stride)."""
    out = []
    name = type(module).__name__
    def one(v):
        if isinstance(v, (tuple, list)):
            return str(v[0]) if len(set(v)) == 1 else ",".join(str(x) for x in v)
        return str(v)
    if name.startswith("Conv"):
        out += [("stride", one(module.stride)), ("padding", one(module.padding))]
        if one(module.dilation) != "1":
            out.append(("dilation", one(module.dilation)))
        if getattr(module, "groups", 1) != 1:
            out.append(("groups", str(module.groups)))
    elif "Pool" in name and hasattr(module, "kernel_size"):
        out += [("kernel_size", one(module.kernel_size)), ("stride", one(module.stride)), ("padding", one(module.padding))]
    return out


def describe(model):
    """The module tree: ``[{path, type, attributes, params: [{name, shape}]}]``, parents before children."""
    modules = []
    for path, m in model.named_modules():
        entry = {"path": path, "type": type(m).__name__}
        attrs = _attributes(m)
        if attrs:
            entry["attributes"] = {k: (int(v) if v.lstrip("-").isdigit() else v) for k, v in attrs}
        entry["params"] = [{"name": n, "shape": list(p.shape)} for n, p in m.named_parameters(recurse=False)]
        modules.append(entry)
    return modules


def fingerprint_text(modules):
    def field(text):
        return f"{len(text.encode('utf-8'))}:{text}"
    lines = [HEADER + "\n"]
    for m in modules:
        lines.append(field("module") + field(m["path"]) + field(m["type"]) + "\n")
        for k, v in (m.get("attributes") or {}).items():
            lines.append(field("attribute") + field(k) + field(str(v)) + "\n")
        for p in m["params"]:
            lines.append(field("param") + field(p["name"]) + field(",".join(str(d) for d in p["shape"])) + "\n")
    return "".join(lines)


def fingerprint(model):
    """``sha256:`` + the hash of the architecture's description: equal for every instance of one architecture."""
    return "sha256:" + hashlib.sha256(fingerprint_text(describe(model)).encode("utf-8")).hexdigest()


def _summary(fp, modules, count, input_shape, output_shape):
    rows = [["module", "type", "setting / parameter", "shape", "count"]]
    for m in modules:
        depth = 0 if not m["path"] else m["path"].count(".") + 1
        label = "  " * depth + (m["path"] or "(model)")
        first = [True]

        def row(what, shape, n):
            r = [label, m["type"], what, shape, n] if first[0] else ["", "", what, shape, n]
            first[0] = False
            return r
        for k, v in (m.get("attributes") or {}).items():
            rows.append(row(f"{k} = {v}", "", ""))
        for p in m["params"]:
            size = 1
            for d in p["shape"]:
                size *= d
            rows.append(row(p["name"], "[" + ", ".join(map(str, p["shape"])) + "]", f"{size:,}"))
        if first[0]:
            rows.append(row("", "", ""))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    out = []
    for r in rows:
        out.append(("".join(r[c].ljust(widths[c]) + "  " for c in range(4)) + r[4].rjust(widths[4])).rstrip())
    out.append(f"total parameters: {count:,}")
    if input_shape is not None and output_shape is not None:
        out.append(f"input [{', '.join(map(str, input_shape))}] -> output [{', '.join(map(str, output_shape))}]")
    out.append(f"fingerprint: {fp}")
    return "\n".join(out) + "\n"


def model(net, input_shape=None, dummy_input=None):
    """Registers the model: writes ``kiln.model.json`` (fingerprint, module tree, summary). A dummy input (or its
    shape) records the output shape; it runs in evaluation mode and under ``no_grad``."""
    global _model
    modules = describe(net)
    fp = "sha256:" + hashlib.sha256(fingerprint_text(modules).encode("utf-8")).hexdigest()
    count = sum(p.numel() for p in net.parameters())
    output_shape = None
    if dummy_input is None and input_shape is not None:
        import torch
        dummy_input = torch.zeros(*input_shape)
    if dummy_input is not None:
        import torch
        input_shape = list(dummy_input.shape)
        was = net.training
        net.eval()
        try:
            with torch.no_grad():
                output_shape = list(net(dummy_input).shape)
        finally:
            net.train(was)
    info = {"fingerprint": fp, "summary": _summary(fp, modules, count, input_shape, output_shape), "modules": modules,
            "parameters": count, "input_shape": None if input_shape is None else list(input_shape),
            "output_shape": output_shape}
    _model = net
    path = _where(MODEL)
    if path:
        _files.write_json_atomic(path, info)
        if mode() in ("train", "queue"):
            atexit.register(_save_at_exit)
    return info


# ---- params, queue, results -------------------------------------------------------------------------------------------
def queue():
    """A queue run's injected hyper-parameters (``KILN_QUEUE``), recorded as soon as they are read; else ``{}``."""
    text = os.environ.get("KILN_QUEUE")
    if not text or mode() != "queue":
        return {}
    values = json.loads(text)
    if not isinstance(values, dict):
        raise ValueError(f"KILN_QUEUE: expected a JSON object, got {text[:60]}")
    _merge_params(values)
    return dict(values)


def param(values=None, **kw):
    """Records hyper-parameters in ``kiln.params.json`` and returns them, queue values winning (a differing value is
    warned about). A trial records none."""
    given = dict(values or {}, **kw)
    injected = queue()
    for k, v in injected.items():
        if k in given and given[k] != v:
            print(f"kiln: {k}: the queue's value {json.dumps(v)} wins over the program's {json.dumps(given[k])}", file=sys.stderr)
    merged = {**given, **injected}
    if mode() != "trial":
        _merge_params(merged)
    return merged


def _merge_params(values):
    _params.update(values)
    path = _where(PARAMS)
    if path:
        _files.write_json_atomic(path, _params)


def trial_result(values=None, **kw):
    """Merges the trial's result into ``kiln.result.json`` (only a trial writes it)."""
    _result.update(dict(values or {}, **kw))
    if mode() == "trial":
        _files.write_json_atomic(_where(RESULT), _result)


# ---- weights ----------------------------------------------------------------------------------------------------------
def save_safetensors(path, tensors, metadata=None):
    """Writes F32 tensors in the safetensors format (``{name: tensor}``), to a temporary name renamed over ``path``."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").float().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    _files.write_atomic(path, struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    """Reads a safetensors file of F32 tensors: ``({name: torch.Tensor}, metadata)``."""
    import torch
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (too short)")
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None)
    out = {}
    base = 8 + n
    for name, h in header.items():
        if h["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {h['dtype']}; only F32 is read")
        a, b = h["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=torch.float32).reshape(h["shape"]).clone()
    return out, meta


def save_weights(net=None):
    """Writes ``weights.safetensors`` (the model's state dict with its fingerprint) now."""
    global _saved
    net = net or _model
    if net is None:
        raise RuntimeError("save_weights: register the model first (sdk.model(net))")
    path = _where(WEIGHTS)
    if path and mode() in ("train", "queue"):
        save_safetensors(path, dict(net.state_dict()), {"fingerprint": fingerprint(net)})
        _saved = True


def end(net=None):
    save_weights(net)


def _save_at_exit():
    # atexit runs on a normal exit (main returned, sys.exit(0)); a crash or a signal leaves no weights file.
    if _saved or _model is None:
        return
    code = getattr(sys, "last_value", None)
    if code is not None:
        return
    try:
        save_weights(_model)
    except Exception as ex:  # the program already finished; say why the weights are missing
        print(f"kiln: weights.safetensors: {ex}", file=sys.stderr)


def load_chosen(net, timeout=None):
    """A trial: waits for ``kiln.choice.json`` (every 20 ms), loads the chosen weights into ``net`` by name and shape,
    and returns the choice. Fails with a clear message when the parent gives an error, leaves, or the wait times out."""
    path = _where(CHOICE)
    if path is None:
        raise RuntimeError("load_chosen: KILN_RUN_DIR is not set (run this trial with `kiln trial`)")
    timeout = float(os.environ.get("KILN_CHOICE_TIMEOUT", "600")) if timeout is None else timeout
    parent = os.environ.get("KILN_PARENT_PID")
    start_parent = os.getppid()
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if parent and not _alive(int(parent)) or (not parent and os.getppid() != start_parent):
            raise RuntimeError(f"{CHOICE}: the parent process is gone; no weights will be chosen")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{CHOICE}: no choice within {timeout:g} s")
        time.sleep(0.02)
    with open(path) as f:
        choice = json.load(f)
    if choice.get("error"):
        raise RuntimeError(choice["error"])
    weights = choice["weights"]
    if not os.path.isabs(weights):
        weights = os.path.join(run_dir(), weights)
    tensors, _ = load_safetensors(weights)
    state = net.state_dict()
    missing = [k for k in state if k not in tensors]
    unexpected = [k for k in tensors if k not in state]
    shapes = [f"{k} {list(tensors[k].shape)} (model {list(state[k].shape)})" for k in state if k in tensors and list(tensors[k].shape) != list(state[k].shape)]
    if missing or unexpected or shapes:
        raise ValueError(f"{weights}: does not fit the model — missing: {', '.join(missing) or 'none'}; "
                         f"unexpected: {', '.join(unexpected) or 'none'}; mis-shaped: {', '.join(shapes) or 'none'}")
    net.load_state_dict(tensors)
    return choice


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
