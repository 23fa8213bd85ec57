/**
 * An HTTP/2 frame reader over a byte stream read in chunks, for the tests
 * and benchmarks that watch a connection from a TCP relay: each complete
 * frame's type, flags and stream, however the reads split it; and the gRPC
 * envelope, for the tests that write a gRPC body by hand.
 */

export const DATA = 0x0;
export const HEADERS = 0x1;
export const END_STREAM = 0x1;
/** The client's connection preface, before its first frame. */
export const CLIENT_PREFACE = 24;

/** Returns a function to feed each read to; `onFrame` is called for every frame it completes. */
export function frameReader(onFrame: (type: number, flags: number, stream: number) => void, skip = 0): (bytes: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  let toSkip = skip;
  return (bytes) => {
    pending = pending.length > 0 ? Buffer.concat([pending, bytes]) : bytes;
    if (toSkip > 0) {
      const n = Math.min(toSkip, pending.length);
      toSkip -= n;
      pending = pending.subarray(n);
    }
    // Every frame is 9 bytes of header (length, type, flags, stream) and its payload.
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      onFrame(pending[3] as number, pending[4] as number, pending.readUInt32BE(5) & 0x7fffffff);
      pending = pending.subarray(9 + length);
    }
  };
}

/** A gRPC message in its envelope: the flags byte, the length (big-endian), the message. */
export function envelope(message: Uint8Array, flags = 0): Buffer {
  const b = Buffer.alloc(5 + message.byteLength);
  b[0] = flags;
  b.writeUInt32BE(message.byteLength, 1);
  b.set(message, 5);
  return b;
}
