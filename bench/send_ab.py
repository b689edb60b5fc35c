"""Send speed of two or more versions of the worker, interleaved: A/B on a noisy machine.

    git worktree add /tmp/before <commit>; ln -s "$PWD/.venv" /tmp/before/.venv
    .venv/bin/python bench/send_ab.py /tmp/before . --reps 3 --n 20000
    .venv/bin/python bench/send_ab.py .:none . --reps 3        # unsigned against signed

On a shared 2-core machine the ceiling of one minute can be 30 % off the next, so two
versions measured one after the other say little. This script seeds one database and
one SMTP sink (as send_throughput.py does) and then, round after round, measures the
ceiling and sends a fresh campaign with the worker of each checkout in turn; it prints
each run's ratio and each checkout's mean. A checkout is a directory holding an owlmail
tree, optionally followed by `:none`, `:rsa` (the default, DKIM rsa-sha256 with 2048
bits) or `:ed25519` for its signing.

Each run also prints the whole machine's CPU per mail (all cores, /proc/stat: worker,
sink, kernel). For a signed checkout that runs after an unsigned one in the same round
it prints a bound: the ratio the machine could reach at best, every core busy and each
mail costing what the unsigned one cost plus one signature (measured alone, in one
thread). Where the bound is under 0.5, no sender design reaches 0.5 on that machine.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import send_throughput as bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="+", metavar="DIR[:SIGNING]")
    parser.add_argument("--reps", type=int, default=3, help="rounds")
    parser.add_argument("--n", type=int, default=20_000, help="recipients per campaign")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database-uri", help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="owlmail-send-ab-"))
    keys = {kind: bench.dkim_settings(workdir, kind) for kind in ("rsa", "ed25519")}
    runs = []
    for spec in args.checkouts:
        folder, _, signing = spec.partition(":")
        signing = signing or "rsa"
        if signing not in ("none", "rsa", "ed25519"):
            raise SystemExit(f"{spec}: signing is none, rsa or ed25519")
        runs.append((spec, Path(folder).resolve(), keys.get(signing, {})))
    sink, port, sink_name = bench.start_sink()
    try:
        uri = bench.fresh_database(args.database_uri, workdir)
        app = bench.make_app(uri, port, args.connections)
        message = bench.sample_message(app, bench.seed(app, args.n))
        print(f"sink {sink_name}; {args.n:,} recipients; {args.connections} connections")
        ratios: dict[str, list[float]] = {spec: [] for spec, _folder, _env in runs}
        bounds: dict[str, list[float]] = {spec: [] for spec, _folder, _env in runs}
        signs = {spec: bench.signature_ms(message, env) for spec, _folder, env in runs if env}
        for _round in range(args.reps):
            unsigned_ms = None  # the whole machine's CPU per unsigned mail, this round
            for spec, folder, env in runs:
                campaign_id = bench.add_campaign(app)
                raw = bench.ceiling(port, message, min(20_000, args.n), args.connections)
                bench.ROOT = folder  # the worker runs from this checkout
                run = bench.run_worker(uri, port, args.connections, app, campaign_id, args.n,
                                       workdir, env)
                ratios[spec].append(run.rate / raw)
                line = (f"{spec:20} ceiling {raw:6,.0f}  owlmail {run.rate:6,.0f} mails/s  "
                        f"ratio {run.rate / raw:.2f}  worker CPU {run.cpu}; "
                        f"machine {run.machine_ms:.2f} ms")
                if not env:
                    unsigned_ms = run.machine_ms
                else:
                    signed_raw = bench.ceiling(port, message, min(10_000, args.n),
                                               args.connections, bench.signer_from(env))
                    line += f"; signed ceiling {signed_raw:,.0f}, ratio to it " \
                        f"{run.rate / signed_raw:.2f}"
                    if unsigned_ms is not None:
                        bound = bench.signed_bound(unsigned_ms, signs[spec]) / raw
                        bounds[spec].append(bound)
                        line += f"; bound {bound:.2f}"
                print(line, flush=True)
        for spec, values in ratios.items():
            bound = f"  bound {statistics.mean(bounds[spec]):.2f}" if bounds[spec] else ""
            sign = f"  signature {signs[spec]:.2f} ms" if spec in signs else ""
            print(f"{spec:20} mean ratio {statistics.mean(values):.3f}  "
                  f"({' · '.join(f'{v:.2f}' for v in values)}){bound}{sign}")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
