"""make bench-noise: how stable are medians on this machine?

For each CPU device, three blocks of DeiT-Tiny and two full models are measured three times in a
row under the chosen protocol. Printed: the CV of each measurement (spread within a run) and how
far the median moves between the three repeats ((max - min) / min), the number that decides
whether a LUT row can be trusted. Also the same for 2 threads on torch-cpu, the reason lutnas
defaults to 1 thread on shared machines.
"""

from __future__ import annotations

from benchmarks._common import header, parser, table
from lutnas.devices import get_device
from lutnas.measure.target import measure_target
from lutnas.profiler import get_protocol
from lutnas.spaces import parse_spec


def main() -> None:
    args = parser(__doc__).parse_args()
    protocol = get_protocol(args.protocol)
    header(f"bench-noise, protocol {protocol.name}")
    tiny = parse_spec("deit-tiny")
    targets = [(k.kind, k) for k, _ in tiny.blocks()] + [("deit-tiny", tiny), ("seed-start", parse_spec("seed-start"))]
    rows = []
    for device, opts in (("torch-cpu", {"threads": 1}), ("ort-cpu", {"threads": 1}), ("torch-cpu", {"threads": 2})):
        dev = get_device(device, **opts)
        for label, target in targets:
            meds, cvs = [], []
            for _ in range(3):
                m, _ = measure_target(dev, target, protocol)
                meds.append(m.median_ms)
                cvs.append(m.cv)
            rows.append([f"{device} t={opts['threads']}", label, min(meds), max(cvs) * 100,
                         100 * (max(meds) - min(meds)) / min(meds)])
            print(f"  {rows[-1][0]:<14} {label:<12} medians {', '.join(f'{x:.4g}' for x in meds)} ms", flush=True)
    print()
    print(table(rows, ["device", "target", "median ms", "max CV %", "median drift %"]))


if __name__ == "__main__":
    main()
