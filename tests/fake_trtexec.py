"""A stand-in for trtexec that replays recorded outputs from ../shared/tool_outputs.

It logs its argv (one JSON line per call) to $FAKE_TRTEXEC_LOG, writes the engine, times and
profile files the real tool would write, and prints a recorded TensorRT 10.16 log.
"""

import json
import os
import shutil
import sys
from pathlib import Path

outputs = Path(os.environ["LUTNAS_TOOL_OUTPUTS"])
args = sys.argv[1:]
with open(os.environ["FAKE_TRTEXEC_LOG"], "a") as fh:
    fh.write(json.dumps(args) + "\n")
opts = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
log = (outputs / "trtexec_4_trt10.16.1_full_default_run.log").read_text()
if "--help" in args:
    print("&&&& RUNNING TensorRT.trtexec [TensorRT v101601] [b11] # trtexec --help")
    sys.exit(0)
if "saveEngine" in opts:
    if os.environ.get("FAKE_TRTEXEC_FAIL"):
        print("[E] [TRT] ModelImporter: unsupported operator", file=sys.stderr)
        sys.exit(1)
    Path(opts["saveEngine"]).write_bytes(b"engine:" + Path(opts["onnx"]).read_bytes()[:64])
if "exportTimes" in opts:
    shutil.copy(outputs / "trtexec_exportTimes_1.json", opts["exportTimes"])
if "exportProfile" in opts:
    shutil.copy(outputs / "trtexec_profile_3.json", opts["exportProfile"])
print(log)
