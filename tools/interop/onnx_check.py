#!/usr/bin/python3
"""The ONNX checker on glia's exported models (docs/interop.md).

    /usr/bin/python3 tools/interop/onnx_check.py DIR

Runs onnx.checker.check_model(model, full_check=True) (which also infers every shape) on every
DIR/*.onnx and prints its opset, IR version, node count and metadata keys. Exit status 0 when all
pass, 1 when any fails, 77 when the onnx package is missing (Debian: python3-onnx)."""
import glob
import os
import sys

try:
    import onnx
except ImportError:
    print("onnx_check.py: the Python package onnx is missing (Debian: apt-get install python3-onnx)")
    sys.exit(77)

files = sorted(glob.glob(os.path.join(sys.argv[1], "*.onnx")))
if not files:
    sys.exit(f"onnx_check.py: no .onnx file in {sys.argv[1]}")
failed = 0
for path in files:
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        status = "ok"
    except Exception as e:  # the checker's own exception types differ between versions
        status, failed = f"FAILED: {e}", failed + 1
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    keys = ",".join(p.key for p in model.metadata_props) or "-"
    print(f"{os.path.basename(path):22s} onnx {onnx.__version__} checker (full_check): {status}; opset {opset}, "
          f"IR {model.ir_version}, {len(model.graph.node)} nodes, metadata {keys}")
sys.exit(1 if failed else 0)
