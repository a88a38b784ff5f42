"""The rules behind the tenant boundaries, case by case (no API server needed)."""

from __future__ import annotations

import pytest

from acdc.controller.kube import ApiError
from acdc.controller.ownership import owns
from acdc.controller.reconcile import parse_spec
from acdc.controller.run_ref import RunRef
from acdc.controller.server_args import DANGEROUS, RESERVED, refused_args
from acdc.controller.tenancy import TenancyPolicy, image_allowed, references, refusals, repository
from tests.controller.cluster import run_body


@pytest.mark.parametrize("image, repo", [
    ("ubuntu", "docker.io/library/ubuntu"),
    ("vllm/vllm-openai:v0.11.0", "docker.io/vllm/vllm-openai"),
    ("ghcr.io/acdc-operator/acdc-worker:0.1.0", "ghcr.io/acdc-operator/acdc-worker"),
    ("registry.example.com:5000/ml/worker@sha256:" + "a" * 64, "registry.example.com:5000/ml/worker"),
    ("localhost/worker:dev", "localhost/worker"),
    ("GHCR.IO/acdc-operator/worker", "ghcr.io/acdc-operator/worker"),
])
def test_image_repository_names_the_registry(image, repo):
    assert repository(image) == repo


@pytest.mark.parametrize("image, allowed", [
    ("ghcr.io/acdc-operator/acdc-worker:0.1.0", True),
    ("ghcr.io/acdc-operator", True),
    ("ghcr.io/acdc-operator-evil/worker:1", False),   # a prefix of a path segment is not the segment
    ("ghcr.io.evil.com/acdc-operator/worker", False),
    ("ghcr.io/other/worker", False),
    ("acdc-operator/worker", False),                   # Docker Hub, not ghcr.io
    ("registry.example.com:5000/ml/worker:2", True),
    ("registry.example.com/ml/worker:2", False),       # another port is another registry
])
def test_images_are_matched_on_whole_path_segments(image, allowed):
    assert image_allowed(image, ["ghcr.io/acdc-operator", "registry.example.com:5000/ml/"]) is allowed


@pytest.mark.parametrize("arg", ["--trust-remote-code", "--trust_remote_code", "--trust-remote-code=true",
                                 "--trust-remote", "--config=extra.yaml", "--kv-transfer-config.kv_connector=x",
                                 "--worker-extension-cls", "--port", "--host=0.0.0.0", "-tp", "--served-model"])
def test_dangerous_and_reserved_flags_are_refused_in_every_spelling(arg):
    assert [refused for refused, _ in refused_args(["--max-num-seqs", "8", arg])] == [arg]


@pytest.mark.parametrize("args", [["--max-num-seqs", "8", "--enforce-eager"], ["--gpu-memory-utilization", "0.9"],
                                  ["--config-format", "hf"], ["--model-impl", "vllm"], ["--seed", "-1"],
                                  ["--no-trust-remote-code"]])
def test_ordinary_flags_pass(args):
    assert refused_args(args) == []


def test_admin_may_allow_a_dangerous_flag_but_never_a_reserved_one():
    assert refused_args(["--trust-remote-code"], ["--trust-remote-code"]) == []
    assert refused_args(["--port=9000"], ["--port"])
    assert not set(RESERVED) & set(DANGEROUS)


def test_policy_round_trips_through_the_environment():
    policy = TenancyPolicy(("ghcr.io",), ("ml/key", "other"), ("shared",), ("--trust-remote-code",))
    assert TenancyPolicy.from_env(policy.to_env()) == policy
    assert TenancyPolicy.from_env({}) == TenancyPolicy()


def test_references_cover_every_secret_and_claim_a_pod_would_get():
    endpoint = {"url": "http://x/v1", "model": "m", "apiKeySecret": {"name": "sci"}}
    spec = parse_spec(run_body(scientist={"kind": "llm", "endpoint": endpoint},
                               embedding={"kind": "endpoint", "endpoint": {**endpoint, "apiKeySecret": {"name": "emb"}}},
                               images={"pullSecrets": ["regcred"]}, storage={"existingClaim": "data"},
                               evaluation={"export": {"repo": "a/b", "tokenSecret": {"name": "hub"}}}))
    assert references(spec) == [  # the judge falls back to the scientist's endpoint: one Secret, named once
        ("Secret", "regcred", "spec.images.pullSecrets[0]"),
        ("Secret", "sci", "spec.scientist.endpoint.apiKeySecret"),
        ("Secret", "emb", "spec.embedding.endpoint.apiKeySecret"),
        ("Secret", "hub", "spec.evaluation.export.tokenSecret"),
        ("PersistentVolumeClaim", "data", "spec.storage.existingClaim"),
    ]


RUN_LABELS = {"app.kubernetes.io/name": "acdc", "app.kubernetes.io/managed-by": "acdc-operator", "acdc.dev/run": "web"}
OWNER = {"apiVersion": "acdc.dev/v1alpha1", "kind": "CoevolutionRun", "name": "web", "uid": "u1", "controller": True}
WANTED = {"metadata": {"name": "web-spec", "labels": RUN_LABELS, "ownerReferences": [OWNER]}}


@pytest.mark.parametrize("existing, owned", [
    ({"metadata": {"ownerReferences": [OWNER]}}, True),
    ({"metadata": {"labels": RUN_LABELS}}, True),                                  # e.g. a retained state PVC
    ({"metadata": {}}, False),                                                     # someone's own object
    ({"metadata": {"labels": {**RUN_LABELS, "acdc.dev/run": "web2"}}}, False),     # another run's
    ({"metadata": {"labels": {"acdc.dev/run": "web"}}}, False),                    # not made by the operator
    ({"metadata": {"labels": RUN_LABELS, "ownerReferences": [{**OWNER, "uid": "u2"}]}}, False),
    ({"metadata": {"ownerReferences": [{**OWNER, "uid": "u1", "controller": False}]}}, False),
])
def test_only_the_runs_own_objects_are_owned(existing, owned):
    assert owns(WANTED, existing) is owned


class ForbiddenKube:
    """An API server that will not show the operator Secrets (no `get secrets` in its Role)."""

    def get_metadata(self, res, namespace, name):
        raise ApiError(403, "secrets is forbidden")


def test_unreadable_secret_is_refused_with_the_way_out():
    spec = parse_spec(run_body(images={"pullSecrets": ["regcred"]}))
    (refusal,) = refusals(ForbiddenKube(), RunRef("demo", "ml", "u"), spec, TenancyPolicy())
    assert refusal.reason == "SecretNotAllowed" and "HTTP 403" in refusal.message
    assert "security.allowedSecrets" in refusal.message
    assert refusals(ForbiddenKube(), RunRef("demo", "ml", "u"), spec, TenancyPolicy(allowed_secrets=("regcred",))) == []
