/**
 * The single exit for errors leaving an RPC: whatever was thrown becomes a
 * ConnectError with a deliberate code, the original kept as `cause`.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "./error-table.js";
import { UpstreamError } from "./upstream-error.js";

export function toRpcError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof UpstreamError) return toConnectError(e);
  return new ConnectError("internal error", Code.Internal, undefined, undefined, e);
}
