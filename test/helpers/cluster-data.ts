/**
 * A small synthetic cluster as OpenMetrics, for the real Prometheus: two
 * nodes; namespace `shop` with Deployments `api` (two pods, one with
 * restarts) and `api-gateway` (whose name shares the prefix `api`, with many
 * restarts, so a prefix match would be caught); a Deployment `nanapp` whose
 * pod has a zero memory limit (its memory ratio is NaN); and a pod named
 * like api's in another namespace. CPU and memory follow known curves.
 */

/** The evaluation instant of the tests: 2026-01-25T10:00:00Z. */
export const T = 1769335200;
const START = T - 40 * 60;
const END = T + 5 * 60;
const STEP = 15;

export const PODS = {
  apiA: {
    ns: "shop",
    pod: "api-7d9f4-abcde",
    rs: "api-7d9f4",
    deploy: "api",
    node: "node-a",
    cpu: 0.25,
    mem: 200,
    memSlope: 60,
    limit: 512,
  },
  apiB: {
    ns: "shop",
    pod: "api-7d9f4-fghij",
    rs: "api-7d9f4",
    deploy: "api",
    node: "node-b",
    cpu: 0.15,
    mem: 150,
    memSlope: 10,
    limit: 512,
  },
  gateway: {
    ns: "shop",
    pod: "api-gateway-5c6b8-xyz12",
    rs: "api-gateway-5c6b8",
    deploy: "api-gateway",
    node: "node-b",
    cpu: 0.9,
    mem: 480,
    memSlope: 0,
    limit: 512,
  },
  nan: {
    ns: "shop",
    pod: "nanapp-6f7d8-qqqqq",
    rs: "nanapp-6f7d8",
    deploy: "nanapp",
    node: "node-a",
    cpu: 0.05,
    mem: 0,
    memSlope: 0,
    limit: 0,
  },
  elsewhere: {
    ns: "other",
    pod: "api-7d9f4-abcde",
    rs: "api-7d9f4",
    deploy: "api",
    node: "node-b",
    cpu: 3,
    mem: 900,
    memSlope: 0,
    limit: 1024,
  },
} as const;

const MI = 1024 * 1024;

export function clusterOpenMetrics(): string {
  const out: string[] = [];
  const families = new Map<string, string[]>();
  const add = (name: string, labels: Record<string, string>, value: number, ts: number) => {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    const list = families.get(name) ?? [];
    list.push(`${name}{${l}} ${value} ${ts}`);
    families.set(name, list);
  };
  const counters = new Map<string, number>();
  const bump = (key: string, by: number) => {
    const v = (counters.get(key) ?? 0) + by;
    counters.set(key, v);
    return v;
  };
  for (let ts = START; ts <= END; ts += STEP) {
    const x = ts - START;
    for (const [node, idleBase] of [
      ["node-a", 0.6],
      ["node-b", 0.5],
    ] as const) {
      const idle = idleBase + 0.2 * Math.sin(x / 300 + (node === "node-b" ? 1 : 0));
      for (const cpu of ["0", "1"]) {
        add("node_cpu_seconds_total", { cpu, mode: "idle", instance: node }, bump(`${node}${cpu}idle`, idle * STEP), ts);
        add("node_cpu_seconds_total", { cpu, mode: "user", instance: node }, bump(`${node}${cpu}user`, (1 - idle) * STEP), ts);
      }
      const total = 16 * 1024 * MI;
      add("node_memory_MemTotal_bytes", { instance: node }, total, ts);
      add("node_memory_MemAvailable_bytes", { instance: node }, Math.round(total * (0.5 - 0.2 * Math.sin(x / 400))), ts);
      add("node_filesystem_size_bytes", { instance: node, mountpoint: "/" }, 100 * 1024 * MI, ts);
      add("node_filesystem_avail_bytes", { instance: node, mountpoint: "/" }, Math.round((40 + x / 600) * 1024 * MI), ts);
      add("kube_node_status_allocatable", { node, resource: "cpu", unit: "core" }, 4, ts);
      add("kube_node_status_allocatable", { node, resource: "memory", unit: "byte" }, 16 * 1024 * MI, ts);
    }
    for (const p of Object.values(PODS)) {
      const id = { namespace: p.ns, pod: p.pod };
      const rate = p.cpu + 0.1 * Math.sin(x / 250);
      add("container_cpu_usage_seconds_total", { ...id, container: "app" }, bump(`${p.ns}${p.pod}cpu`, rate * STEP), ts);
      // The pod-level cgroup series (container="") must be excluded.
      add("container_cpu_usage_seconds_total", { ...id, container: "" }, bump(`${p.ns}${p.pod}cpupod`, 5 * STEP), ts);
      add("container_memory_working_set_bytes", { ...id, container: "app" }, Math.round((p.mem + (p.memSlope * x) / 2400) * MI), ts);
      add("container_memory_working_set_bytes", { ...id, container: "" }, 4096 * MI, ts);
      add("kube_pod_container_resource_limits", { ...id, container: "app", resource: "memory", unit: "byte" }, p.limit * MI, ts);
      const restarts =
        p.pod === PODS.apiA.pod && p.ns === "shop" ? (x >= 2250 ? 3 : x >= 1200 ? 1 : 0) : p.deploy === "api-gateway" ? 50 : 0;
      add("kube_pod_container_status_restarts_total", { ...id, container: "app" }, restarts, ts);
      add("container_network_receive_bytes_total", { ...id, interface: "eth0" }, bump(`${p.ns}${p.pod}rx`, 2e6 * STEP), ts);
      add("container_network_transmit_bytes_total", { ...id, interface: "eth0" }, bump(`${p.ns}${p.pod}tx`, 1e6 * STEP), ts);
      add("container_network_receive_bytes_total", { ...id, interface: "lo" }, bump(`${p.ns}${p.pod}lo`, 9e9 * STEP), ts);
      add("kube_pod_info", { ...id, node: p.node, created_by_kind: "ReplicaSet", created_by_name: p.rs }, 1, ts);
      add("kube_pod_owner", { ...id, owner_kind: "ReplicaSet", owner_name: p.rs, owner_is_controller: "true" }, 1, ts);
      add("kube_replicaset_owner", { namespace: p.ns, replicaset: p.rs, owner_kind: "Deployment", owner_name: p.deploy }, 1, ts);
    }
  }
  for (const [name, lines] of families) {
    out.push(`# TYPE ${name} unknown`);
    // kube_replicaset_owner is emitted once per pod: keep one sample per series and time.
    out.push(...new Set(lines));
  }
  out.push("# EOF");
  return `${out.join("\n")}\n`;
}
