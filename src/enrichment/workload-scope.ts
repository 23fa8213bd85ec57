/**
 * Finds a workload's pods and nodes: the pods a Deployment owns through its
 * ReplicaSets (kube_pod_owner -> kube_replicaset_owner), never a name prefix
 * (so `api` does not match `api-gateway-...`), and the nodes those pods run
 * on (kube_pod_info), so node metrics are scoped to them rather than to the
 * application's namespace, which node series do not carry.
 */
import { eq } from "./promql.js";

/** The PromQL that lists a Deployment's pods, one kube_pod_info series each (with its node). */
export function podsOfDeploymentQuery(namespace: string, deployment: string): string {
  const ns = eq("namespace", namespace);
  return [
    `kube_pod_info{${ns}}`,
    "and on (namespace, pod)",
    `(kube_pod_owner{${ns},owner_kind="ReplicaSet"}`,
    "  and on (namespace, owner_name)",
    `  label_replace(kube_replicaset_owner{${ns},owner_kind="Deployment",${eq("owner_name", deployment)}}, "owner_name", "$1", "replicaset", "(.+)"))`,
  ].join(" ");
}

export interface WorkloadScope {
  readonly namespace: string;
  readonly pods: readonly string[];
  readonly nodes: readonly string[];
}

/** Reads pods and nodes out of the scope query's series, sorted and unique. */
export function scopeFromSeries(namespace: string, series: readonly { metric: Readonly<Record<string, string>> }[]): WorkloadScope {
  const pods = new Set<string>();
  const nodes = new Set<string>();
  for (const s of series) {
    if (s.metric.pod) pods.add(s.metric.pod);
    if (s.metric.node) nodes.add(s.metric.node);
  }
  return { namespace, pods: [...pods].sort(), nodes: [...nodes].sort() };
}
