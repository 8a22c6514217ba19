"""`lutnas devices` and `lutnas measure`."""

from __future__ import annotations

import click

from lutnas.cli.options import device_opt, device_option_opt, json_opt, nonempty_path, protocol_opt
from lutnas.cli.output import emit, table
from lutnas.devices import get_device, list_devices, parse_device_options
from lutnas.profiler import get_protocol
from lutnas.spaces import parse_block_key, parse_spec

@click.command("devices")
@json_opt
def devices_cmd(as_json: bool) -> None:
    """List every registered device, whether it is usable here, and why not."""
    rows = list_devices()

    def human(data: list) -> str:
        return table([[r["name"], "yes" if r["usable"] else "no", ", ".join(f"{k}={v}" for k, v in r["options"].items()),
                       r["reason"] or r["description"]] for r in data], ["device", "usable", "options", "notes"])

    emit({"devices": rows} if as_json else rows, as_json, human)


@click.command("measure")
@click.option("--model", "model", default=None, help="A spec (name or d=..,h=..) to measure as a full model.")
@click.option("--block", "block", default=None, help="A block key, e.g. 'encoder(tokens=197,dim=192,heads=3,head_dim=64,mlp_ratio=4)'.")
@click.option("--file", "model_file", default=None, type=click.Path(dir_okay=False), callback=nonempty_path,
              help="A model file of your own (.tflite with --device tflite-cpu).")
@device_opt
@device_option_opt
@protocol_opt
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--ops", is_flag=True, help="Also profile per-operator times and the 7-category breakdown.")
@json_opt
def measure_cmd(model, block, model_file, device, device_options, protocol, batch, ops, as_json) -> None:
    """Time one model, block or model file on a device under the measurement protocol."""
    from lutnas.errors import InputError
    from lutnas.measure.target import measurement_summary, measure_target

    if sum(x is not None for x in (model, block, model_file)) != 1:
        raise InputError("give exactly one of --model, --block or --file")
    dev = get_device(device, **parse_device_options(device_options))
    target = model_file if model_file is not None else parse_spec(model) if model is not None else parse_block_key(block)
    m, records = measure_target(dev, target, get_protocol(protocol), batch=batch, ops=ops)
    data = measurement_summary(m, records)
    data["device"] = device

    def human(d: dict) -> str:
        out = [f"{d['key']} on {device}: median {d['median_ms']:.4g} ms  (p10 {d['p10_ms']:.4g}, p90 {d['p90_ms']:.4g}, "
               f"CV {d['cv']:.1%}, n={d['n']}, protocol {d['protocol']['name']})" + ("  FLAGGED" if d["flagged"] else "")]
        if "breakdown_ms" in d:
            tot = d["op_sum_ms"]
            out.append(table([[c, v, 100 * v / tot if tot else 0] for c, v in d["breakdown_ms"].items()], ["category", "ms", "%"]))
            out.append(f"per-op sum {tot:.4g} ms = {d['op_sum_ratio']:.3f} x measured median")
            if d["unclassified"]:
                out.append("unclassified (in Others): " + ", ".join(d["unclassified"]))
        return "\n".join(out)

    emit(data, as_json, human)
