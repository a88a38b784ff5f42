"""`acdc operator`: run the kopf operator in this process (development, or the operator image).

The Helm chart's Deployment passes exactly these flags; tests/chart parses the rendered
container args with this parser, so the chart and the command cannot drift apart.
"""

from __future__ import annotations

import argparse
import logging
import os

from acdc.errors import UserError

LOG_LEVELS = ("debug", "info", "warning", "error")
HEALTH_PATH = "/healthz"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("operator", help="reconcile CoevolutionRuns on a Kubernetes cluster (kopf)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (ClusterRole)")
    peering = parser.add_mutually_exclusive_group()
    peering.add_argument("--peering", default="acdc-operator",
                         help="kopf peering object shared by replicas (needs kopf's peering CRDs and that object)")
    peering.add_argument("--standalone", action="store_true", help="no peering: only for a single replica")
    parser.add_argument("--priority", type=int, default=None, help="peering priority (default: random per replica)")
    parser.add_argument("--metrics-port", type=_port, default=8080, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--health-port", type=_port, default=8081,
                        help=f"kopf liveness endpoint http://0.0.0.0:PORT{HEALTH_PATH} (0: off)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                        help="operator log level (default: info, debug with -v)")
    parser.set_defaults(handler=handle)


def _port(text: str) -> int:
    """A TCP port or 0, checked by argparse so a typo is a usage error, not a traceback."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def liveness_endpoint(health_port: int) -> str | None:
    """Bound on every interface: the kubelet probes the pod IP, not localhost."""
    return f"http://0.0.0.0:{health_port}{HEALTH_PATH}" if health_port else None


def handle(args: argparse.Namespace) -> int:
    if not args.namespace and not args.all_namespaces:
        namespace = os.environ.get("POD_NAMESPACE")
        if not namespace:
            raise UserError("acdc operator: pass --namespace NS (repeatable) or --all-namespaces")
        args.namespace = [namespace]
    if args.metrics_port and args.metrics_port == args.health_port:
        raise UserError(f"acdc operator: --metrics-port and --health-port are both {args.metrics_port}")
    if args.log_level:
        logging.getLogger().setLevel(args.log_level.upper())
    os.environ["ACDC_METRICS_PORT"] = str(args.metrics_port)
    import kopf

    import acdc.controller.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        standalone=args.standalone,
        priority=args.priority,
        peering_name=None if args.standalone else args.peering,
        liveness_endpoint=liveness_endpoint(args.health_port),
    )
    return 0
