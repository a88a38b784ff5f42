"""`acdc serve-results STATE`: serve a run's report and task force read-only over HTTP.

The reader pod runs it (``acdc.controller.reader_pod``); anyone can run it on a state
folder and reach it with `kubectl port-forward` or a browser (``acdc.delivery.server``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc.cli.arguments import port


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from acdc.delivery.server import PORT

    serve = subparsers.add_parser("serve-results", help="serve a run's report and task force over HTTP (read-only)")
    serve.add_argument("state", type=Path, help="the run's state folder")
    serve.add_argument("--port", type=port, default=PORT, help=f"TCP port (default {PORT})")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    serve.set_defaults(handler=handle_serve)


def handle_serve(args: argparse.Namespace) -> int:
    from acdc.delivery.server import make_server
    from acdc.engine.state import RunState
    from acdc.errors import UserError

    if not args.state.is_dir():
        raise UserError(f"{args.state}: no such state folder")
    if not RunState(args.state).run_file.is_file():  # else it would serve 409s until killed
        raise UserError(f"{args.state}: not an acdc state folder (no run.yaml)")
    try:
        server = make_server(args.state, args.host, args.port)
    except OSError as exc:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving {args.state} on http://{args.host}:{server.server_address[1]}/report.html", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
