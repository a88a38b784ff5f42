"""`acdc operator`: run the kopf operator in this process (development, or the operator image)."""

from __future__ import annotations

import argparse
import os

from acdc.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("operator", help="reconcile CoevolutionRuns on a Kubernetes cluster (kopf)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (ClusterRole)")
    parser.add_argument("--peering", default="acdc-operator", help="kopf peering object shared by replicas")
    parser.add_argument("--priority", type=int, default=None, help="peering priority (default: random per replica)")
    parser.add_argument("--standalone", action="store_true", help="no peering: only for a single replica")
    parser.add_argument("--metrics-port", type=int, default=8080, help="Prometheus /metrics port (0: off)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if not args.namespace and not args.all_namespaces:
        namespace = os.environ.get("POD_NAMESPACE")
        if not namespace:
            raise UserError("acdc operator: pass --namespace NS (repeatable) or --all-namespaces")
        args.namespace = [namespace]
    os.environ["ACDC_METRICS_PORT"] = str(args.metrics_port)
    import kopf

    import acdc.controller.handlers  # noqa: F401  (registers the handlers)

    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        standalone=args.standalone,
        priority=args.priority,
        peering_name=args.peering,
    )
    return 0
