#!/usr/bin/env bash
# Real-cluster smoke test: install the chart, run the quickstart CoevolutionRun on CPU, and check
# the run's status, its Jobs and the operator's metrics. Runs against the current kubectl context,
# or creates a throwaway kind cluster with --kind. See docs/smoke-test.md.
#
#   hack/smoke-test.sh [--kind] [--keep]
#
# Environment (defaults in brackets):
#   REGISTRY         image registry/prefix                     [ghcr.io/acdc-operator]
#   VERSION          image tag                                 [the chart's appVersion]
#   OPERATOR_IMAGE   full operator image                       [$REGISTRY/acdc-operator:$VERSION]
#   WORKER_IMAGE     full worker image                         [$REGISTRY/acdc-worker:$VERSION]
#   NAMESPACE        namespace of the run                      [acdc-smoke]
#   GENERATIONS      generations after generation 0            [1]
#   STORAGE_CLASS    storage class of the run's volume         [the cluster's default]
#   ACCESS_MODE      the volume's access mode                  [ReadWriteOnce: one node]
#   WAIT_MINUTES     give up on the run after this long        [90]
#   KIND_CLUSTER     cluster name for --kind                   [acdc-smoke]
set -euo pipefail

cd "$(dirname "$0")/.."

KIND=0
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --kind) KIND=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

CHART=charts/acdc-operator
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")"
REGISTRY="${REGISTRY:-ghcr.io/acdc-operator}"
VERSION="${VERSION:-$APP_VERSION}"
OPERATOR_IMAGE="${OPERATOR_IMAGE:-$REGISTRY/acdc-operator:$VERSION}"
WORKER_IMAGE="${WORKER_IMAGE:-$REGISTRY/acdc-worker:$VERSION}"
NAMESPACE="${NAMESPACE:-acdc-smoke}"
GENERATIONS="${GENERATIONS:-1}"
STORAGE_CLASS="${STORAGE_CLASS:-}"
ACCESS_MODE="${ACCESS_MODE:-ReadWriteOnce}"
WAIT_MINUTES="${WAIT_MINUTES:-90}"
KIND_CLUSTER="${KIND_CLUSTER:-acdc-smoke}"
RELEASE=acdc
SYSTEM_NAMESPACE=acdc-system
RUN=quickstart

log() { printf '[smoke %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is not installed ($2)"; }

need kubectl "https://kubernetes.io/docs/tasks/tools/"
need helm "https://helm.sh/docs/intro/install/"
need curl "your package manager"
if [ "$KIND" = 1 ]; then
  need kind "https://kind.sigs.k8s.io/docs/user/quick-start/"
  need docker "kind runs its nodes in Docker"
fi

PORT_FORWARD_PID=""
cleanup() {
  if [ -n "$PORT_FORWARD_PID" ]; then kill "$PORT_FORWARD_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then
    log "kept everything (--keep): kubectl -n $NAMESPACE get coevolutionruns,jobs,pvc"
    return
  fi
  log "cleaning up"
  kubectl -n "$NAMESPACE" delete coevolutionrun "$RUN" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  helm uninstall "$RELEASE" -n "$SYSTEM_NAMESPACE" >/dev/null 2>&1 || true
  kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ "$KIND" = 1 ]; then kind delete cluster --name "$KIND_CLUSTER" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if [ "$KIND" = 1 ]; then
  if ! kind get clusters | grep -qx "$KIND_CLUSTER"; then
    log "creating kind cluster $KIND_CLUSTER"
    kind create cluster --name "$KIND_CLUSTER" --wait 120s
  fi
  kubectl config use-context "kind-$KIND_CLUSTER" >/dev/null
  for image in "$OPERATOR_IMAGE" "$WORKER_IMAGE"; do
    if docker image inspect "$image" >/dev/null 2>&1; then
      log "loading local image $image into kind"
      kind load docker-image "$image" --name "$KIND_CLUSTER"
    fi
  done
fi

kubectl version >/dev/null 2>&1 || fail "no cluster reachable with the current kubectl context"
log "context: $(kubectl config current-context)"

log "installing the chart ($OPERATOR_IMAGE)"
helm upgrade --install "$RELEASE" "$CHART" -n "$SYSTEM_NAMESPACE" --create-namespace \
  --set image.repository="${OPERATOR_IMAGE%:*}" --set image.tag="${OPERATOR_IMAGE##*:}" \
  --wait --timeout 10m
kubectl -n "$SYSTEM_NAMESPACE" rollout status deployment -l app.kubernetes.io/instance="$RELEASE" --timeout=5m

log "applying the quickstart run in namespace $NAMESPACE ($GENERATIONS generation(s), worker $WORKER_IMAGE)"
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# CPU-sized Jobs and a single-node volume; everything else is examples/quickstart.yaml as shipped.
storage="{\"size\": \"10Gi\", \"accessModes\": [\"$ACCESS_MODE\"]${STORAGE_CLASS:+, \"storageClassName\": \"$STORAGE_CLASS\"}}"
small='{"cpu": "1", "memory": "2Gi"}'
patch="{\"spec\": {\"population\": {\"generations\": $GENERATIONS},
  \"images\": {\"worker\": \"$WORKER_IMAGE\", \"pullPolicy\": \"IfNotPresent\"},
  \"storage\": $storage,
  \"resources\": {\"merge\": $small, \"evaluate\": $small, \"score\": $small, \"control\": $small, \"tasks\": $small}}}"
kubectl patch --local -f examples/quickstart.yaml --type merge -p "$patch" -o yaml \
  | kubectl -n "$NAMESPACE" apply -f -

log "waiting for the run (up to $WAIT_MINUTES min); Jobs seen are recorded"
seen_phases=""
deadline=$(( $(date +%s) + WAIT_MINUTES * 60 ))
phase=""
while :; do
  phase="$(kubectl -n "$NAMESPACE" get coevolutionrun "$RUN" -o jsonpath='{.status.phase}' 2>/dev/null || true)"
  generation="$(kubectl -n "$NAMESPACE" get coevolutionrun "$RUN" -o jsonpath='{.status.generation}' 2>/dev/null || true)"
  jobs="$(kubectl -n "$NAMESPACE" get jobs -l "acdc.dev/run=$RUN" -o jsonpath='{range .items[*]}{.metadata.labels.acdc\.dev/phase}{"\n"}{end}' 2>/dev/null || true)"
  for job_phase in $jobs; do
    case " $seen_phases " in *" $job_phase "*) ;; *) seen_phases="$seen_phases $job_phase" ;; esac
  done
  log "phase=${phase:-?} generation=${generation:-?} job phases seen:${seen_phases:- none}"
  case "$phase" in
    Succeeded) break ;;
    Failed)
      kubectl -n "$NAMESPACE" get coevolutionrun "$RUN" -o jsonpath='{.status.lastError}{"\n"}' >&2 || true
      fail "the run failed" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || fail "the run did not finish within $WAIT_MINUTES minutes (phase ${phase:-unknown})"
  sleep 15
done

log "checking the run's status"
jsonpath() { kubectl -n "$NAMESPACE" get coevolutionrun "$RUN" -o jsonpath="$1"; }
[ "$(jsonpath '{.status.generation}')" = "$GENERATIONS" ] || fail "status.generation is not $GENERATIONS"
archive_size="$(jsonpath '{.status.archive.size}')"
[ "${archive_size:-0}" -ge 1 ] || fail "status.archive.size is ${archive_size:-missing}"
[ -n "$(jsonpath '{.status.archive.bestFitness}')" ] || fail "status.archive.bestFitness is missing"
[ -n "$(jsonpath '{.status.archive.coverage}')" ] || fail "status.archive.coverage is missing"
[ -n "$(jsonpath '{.status.completionTime}')" ] || fail "status.completionTime is missing"
[ "$(kubectl -n "$NAMESPACE" get pvc -l "acdc.dev/run=$RUN" -o jsonpath='{.items[0].status.phase}')" = Bound ] \
  || fail "the run's volume is not Bound"

log "checking the Jobs"
for expected in init tasks plan merge evaluate score select; do
  case " $seen_phases " in *" $expected "*) ;; *) fail "no $expected Job was seen (saw:$seen_phases)" ;; esac
done
failed_jobs="$(kubectl -n "$NAMESPACE" get jobs -l "acdc.dev/run=$RUN" \
  -o jsonpath='{range .items[?(@.status.failed)]}{.metadata.name}{" "}{end}')"
[ -z "$failed_jobs" ] || log "note: Jobs with failed attempts (retried): $failed_jobs"

log "checking the operator's metrics"
service="$(kubectl -n "$SYSTEM_NAMESPACE" get service -l app.kubernetes.io/instance="$RELEASE" -o name | grep -- '-metrics$')"
[ -n "$service" ] || fail "no metrics Service"
kubectl -n "$SYSTEM_NAMESPACE" port-forward "$service" 18080:8080 >/dev/null 2>&1 &
PORT_FORWARD_PID=$!
metrics=""
for _ in $(seq 1 30); do
  metrics="$(curl -fsS http://127.0.0.1:18080/metrics 2>/dev/null || true)"
  [ -n "$metrics" ] && break
  sleep 1
done
for family in acdc_run_generation acdc_archive_size acdc_steps_total; do
  echo "$metrics" | grep -q "^$family{.*run=\"$RUN\"" || fail "metric $family for run $RUN is not exported"
done
echo "$metrics" | grep -q "^acdc_run_phase{.*phase=\"Succeeded\".*run=\"$RUN\".*} 1\|^acdc_run_phase{.*run=\"$RUN\".*phase=\"Succeeded\".*} 1" \
  || fail "acdc_run_phase does not report Succeeded"

log "PASS: run $RUN succeeded with $archive_size archive models; Jobs:$seen_phases; metrics exported"
