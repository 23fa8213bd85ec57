/**
 * grpc.health.v1.Health for "" and "aiops.ml.v1.MLService". SERVING while the
 * sidecar can answer, degraded or not: an ML outage must never make
 * Kubernetes restart or unready the engine's pod. NOT_SERVING only while
 * draining. The upstream's own health is reported elsewhere (/readyz,
 * metrics, response metadata).
 */
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { MLService } from "../../gen/aiops/ml/v1/ml_service_pb.js";
import { type Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";

/** The services whose health is reported. */
export const HEALTH_SERVICES = ["", MLService.typeName] as const;

/** The serving status of each service, with change notification for Watch. */
export class HealthState {
  private readonly statuses = new Map<string, Status>(HEALTH_SERVICES.map((s) => [s, Status.SERVING]));
  private waiters: (() => void)[] = [];

  get(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  /** Sets every service's status (SERVING, or NOT_SERVING while draining). */
  setAll(status: Status): void {
    let changed = false;
    for (const s of this.statuses.keys()) {
      if (this.statuses.get(s) !== status) changed = true;
      this.statuses.set(s, status);
    }
    if (changed) this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves at the next change, or when `signal` aborts. */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        signal.removeEventListener("abort", done);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      signal.addEventListener("abort", done, { once: true });
      this.waiters.push(done);
    });
  }
}

export function createHealthService(state: HealthState): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      return { status };
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = state.get(req.service) ?? Status.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await state.changed(ctx.signal);
      }
    },
  };
}
