"""`acdc operator`: run the kopf operator in this process (development, or the operator image).

The Helm chart's Deployment passes exactly these flags; tests/chart parses the rendered
container args with this parser, so the chart and the command cannot drift apart.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Callable

from acdc.cli.arguments import port
from acdc.controller.server_args import DANGEROUS
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
    parser.add_argument("--metrics-port", type=port, default=8080, help="Prometheus /metrics port (0: off)")
    parser.add_argument("--health-port", type=port, default=8081,
                        help=f"kopf liveness endpoint http://0.0.0.0:PORT{HEALTH_PATH} (0: off)")
    parser.add_argument("--workers", type=_workers, default=None,
                        help="reconciles in flight at once: handler threads and API connections (default: 64)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default=None,
                        help="operator log level (default: info, debug with -v)")
    security = parser.add_argument_group("tenant boundaries (see docs/operator.md, Security model)")
    security.add_argument("--allowed-registry", action="append", default=[], type=_registry, metavar="PREFIX",
                          help="accept run images only under this registry or repository prefix (repeatable; "
                               "none given: any image)")
    security.add_argument("--allowed-secret", action="append", default=[], type=_object_name, metavar="[NS/]NAME",
                          help="a Secret every run may use without the acdc.dev/allow-runs annotation (repeatable)")
    security.add_argument("--allowed-claim", action="append", default=[], type=_object_name, metavar="[NS/]NAME",
                          help="a PVC every run may mount without the acdc.dev/allow-runs annotation (repeatable)")
    security.add_argument("--allowed-server-arg", action="append", default=[], choices=sorted(DANGEROUS),
                          metavar="FLAG", help="a vLLM flag runs may pass in deploy.extraArgs although it can load "
                                               f"code or read files (repeatable): {', '.join(sorted(DANGEROUS))}")
    parser.set_defaults(handler=handle)


_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_OBJECT = re.compile(rf"^({_NAME}/)?{_NAME}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*/?$")


def _object_name(text: str) -> str:
    if not _OBJECT.match(text):
        raise argparse.ArgumentTypeError(f"not a Kubernetes object name or NAMESPACE/NAME: {text!r}")
    return text


def _registry(text: str) -> str:
    if not _REGISTRY.match(text):
        raise argparse.ArgumentTypeError(f"not a registry host or repository prefix: {text!r}")
    return text


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1024:
        raise argparse.ArgumentTypeError(f"not a number of workers (1-1024): {text!r}")
    return int(text)


def liveness_endpoint(health_port: int) -> str | None:
    """Bound on every interface: the kubelet probes the pod IP, not localhost."""
    return f"http://0.0.0.0:{health_port}{HEALTH_PATH}" if health_port else None


def _require_credentials(load: Callable[[], object]) -> None:
    """Fail at once without credentials: kopf would retry its login forever, silently."""
    from kubernetes.config import ConfigException

    try:
        load()
    except (ConfigException, OSError) as exc:
        raise UserError(f"acdc operator: no usable Kubernetes credentials ({exc}); "
                        "set KUBECONFIG (or ~/.kube/config), or run it in a pod with a service account") from exc


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
    from acdc.controller.tenancy import TenancyPolicy

    policy = TenancyPolicy(tuple(args.allowed_registry), tuple(args.allowed_secret), tuple(args.allowed_claim),
                           tuple(args.allowed_server_arg))
    os.environ.update(policy.to_env())
    import kopf

    from acdc.controller import handlers  # importing registers the handlers
    from acdc.controller.kube import api_configuration

    # Read by the handlers' startup (handlers.configure), which kopf.run calls.
    os.environ[handlers.METRICS_PORT_ENV] = str(args.metrics_port)
    if args.workers:
        os.environ[handlers.WORKERS_ENV] = str(args.workers)

    _require_credentials(api_configuration)
    kopf.run(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        standalone=args.standalone,
        priority=args.priority,
        peering_name=None if args.standalone else args.peering,
        liveness_endpoint=liveness_endpoint(args.health_port),
    )
    return 0
