/**
 * A gRPC answer on a real node:http2 server, read by a real node:http2
 * client through a TCP relay that records how the server's bytes arrived:
 * on the Node the image ships, HEADERS, DATA and the trailers leave in one
 * write; the answer is the same either way.
 */
import http2 from "node:http2";
import net, { type AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { answerGrpc, oneWriteAnswers } from "../../src/server/grpc-answer.js";
import { DATA, END_STREAM, frameReader, HEADERS } from "../helpers/h2-frames.js";

/** A frame the server sent: its type, flags and stream, and the read (chunk) that completed it. */
interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly chunk: number;
}

interface Rig {
  readonly client: http2.ClientHttp2Session;
  readonly frames: Frame[];
  readonly streamsClosed: () => number;
  close(): Promise<void>;
}

const open: Rig[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

/** A server answering every stream with `answer`, and a client reaching it through a relay that parses the server's frames. */
async function rig(answer: (stream: http2.ServerHttp2Stream) => void, compat = false): Promise<Rig> {
  let closed = 0;
  const server = compat ? http2.createServer((req) => answer(req.stream)) : http2.createServer();
  if (!compat) server.on("stream", (stream) => answer(stream));
  server.on("stream", (stream) => stream.once("close", () => closed++));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const frames: Frame[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
    down.pipe(up);
    let chunk = 0;
    const read = frameReader((type, flags, stream) => frames.push({ type, flags, stream, chunk }));
    up.on("data", (bytes: Buffer) => {
      chunk++;
      read(bytes);
      down.write(bytes);
    });
    up.on("close", () => down.destroy());
    down.on("close", () => up.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`);
  const r: Rig = {
    client,
    frames,
    streamsClosed: () => closed,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(r);
  return r;
}

interface Answer {
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly id: number;
}

function call(client: http2.ClientHttp2Session): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = client.request({
      ":method": "POST",
      ":path": "/aiops.ml.v1.MLService/DetectAnomaly",
      "content-type": "application/grpc",
      te: "trailers",
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const body: Buffer[] = [];
    req.on("response", (h) => {
      headers = h;
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (d: Buffer) => body.push(d));
    req.on("error", reject);
    req.on("close", () => {
      if (trailers === undefined) reject(new Error(`no trailers (rst ${req.rstCode})`));
      else resolve({ headers, body: Buffer.concat(body), trailers, id: req.id as number });
    });
    req.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

/** The server's frames of one stream. */
const framesOf = (frames: readonly Frame[], id: number): Frame[] => frames.filter((f) => f.stream === id);

const MESSAGE = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
const shipped = process.versions.node.split(".")[0] === "20";

describe.each([
  { way: "best" as const, oneWrite: shipped },
  { way: "public" as const, oneWrite: false },
])("a gRPC answer, the $way way", ({ way, oneWrite }) => {
  const ok = (stream: http2.ServerHttp2Stream) =>
    answerGrpc(stream, { ":status": 200, "content-type": "application/grpc+proto" }, { "grpc-status": "0" }, MESSAGE, way);

  test("carries the headers, the message and the status in trailers", async () => {
    const { client } = await rig(ok);
    const a = await call(client);
    expect(a.headers[":status"]).toBe(200);
    expect(a.headers["content-type"]).toBe("application/grpc+proto");
    expect([...a.body]).toEqual([...MESSAGE]);
    expect(a.trailers["grpc-status"]).toBe("0");
  });

  test(`leaves in ${oneWrite ? "one write" : "two writes"}: DATA and the trailers in ${oneWrite ? "the same read" : "two reads"}`, async () => {
    // The message's bytes not yet written when nghttp2 asks for the
    // trailers: it asks in the pass that writes the message, so both go in
    // its one write. The public way asks only after that write completed.
    const pendingAtTrailers: number[] = [];
    const { client, frames } = await rig((stream) => {
      ok(stream);
      stream.once("wantTrailers", () => pendingAtTrailers.push(stream.writableLength));
    });
    // Past the connection's first exchanges (SETTINGS and their acks).
    await call(client);
    for (let i = 0; i < 5; i++) {
      const a = await call(client);
      const mine = framesOf(frames, a.id);
      expect(mine.map((f) => f.type)).toEqual([HEADERS, DATA, HEADERS]);
      const [head, data, trailers] = mine as [Frame, Frame, Frame];
      expect(data.flags & END_STREAM).toBe(0);
      expect(trailers.flags & END_STREAM).toBe(END_STREAM);
      // One write lands as one read here; two writes a loop turn apart land as two.
      expect(new Set([head.chunk, data.chunk, trailers.chunk]).size).toBe(oneWrite ? 1 : 2);
    }
    expect(pendingAtTrailers).toHaveLength(6);
    for (const pending of pendingAtTrailers) expect(pending).toBe(oneWrite ? MESSAGE.length : 0);
    // On the Node the image ships (20), the internals are found; elsewhere every answer takes the public way.
    expect(oneWriteAnswers()).toBe(shipped);
  });

  test.each([
    { what: "a message", body: MESSAGE },
    { what: "no message", body: undefined },
  ])("with $what, the stream finishes, then closes, as any stream does", async ({ body }) => {
    // On the one-write way the trailers close the stream before the socket
    // write carrying the message completes; destroyed there, it never
    // emitted 'finish' (grpc-answer.ts, holdDestroy).
    const lives: string[][] = [];
    const { client } = await rig((stream) => {
      const life: string[] = [];
      lives.push(life);
      for (const event of ["finish", "close", "error"]) stream.on(event, () => life.push(event));
      // As the sidecar answers: once the caller has sent its message and half-closed.
      stream.resume();
      stream.once("end", () =>
        answerGrpc(stream, { ":status": 200, "content-type": "application/grpc+proto" }, { "grpc-status": "0" }, body, way),
      );
    });
    for (let i = 0; i < 5; i++) expect((await call(client)).trailers["grpc-status"]).toBe("0");
    await expect.poll(() => lives.filter((l) => l.includes("close")).length).toBe(5);
    expect(lives).toEqual(Array.from({ length: 5 }, () => ["finish", "close"]));
  });

  test("an error without a message: headers, then the status's trailers with the message as given", async () => {
    const { client, frames } = await rig((stream) =>
      answerGrpc(
        stream,
        { ":status": 200, "content-type": "application/grpc+proto" },
        { "grpc-status": "5", "grpc-message": "no model %22m%22 here" },
        undefined,
        way,
      ),
    );
    await call(client);
    const a = await call(client);
    expect(a.body.length).toBe(0);
    expect(a.trailers["grpc-status"]).toBe("5");
    expect(a.trailers["grpc-message"]).toBe("no model %22m%22 here");
    const mine = framesOf(frames, a.id);
    expect(mine.map((f) => f.type)).toEqual([HEADERS, HEADERS]);
    expect(new Set(mine.map((f) => f.chunk)).size).toBe(oneWrite ? 1 : 2);
  });

  test("a message larger than the client's flow-control window arrives whole, then the trailers", async () => {
    // 300 KB against HTTP/2's initial 64 KB window: the data ends in a later pass of nghttp2, after the client's WINDOW_UPDATEs.
    const big = Buffer.alloc(5 + 300_000, 7);
    big[0] = 0;
    big.writeUInt32BE(300_000, 1);
    const { client } = await rig((stream) =>
      answerGrpc(stream, { ":status": 200, "content-type": "application/grpc+proto" }, { "grpc-status": "0" }, big, way),
    );
    const a = await call(client);
    expect(a.body.equals(big)).toBe(true);
    expect(a.trailers["grpc-status"]).toBe("0");
  });

  test("on the compatibility API's stream, the trailers are sent once and every stream closes", async () => {
    const errors: unknown[] = [];
    const r = await rig((stream) => {
      stream.on("error", (e) => errors.push(e));
      ok(stream);
    }, true);
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(r.client)));
    for (const a of answers) {
      expect(a.trailers["grpc-status"]).toBe("0");
      expect(framesOf(r.frames, a.id).filter((f) => f.type === HEADERS)).toHaveLength(2);
    }
    await expect.poll(() => r.streamsClosed()).toBe(20);
    expect(errors).toEqual([]);
  });
});

test("no answer leaves Node to build an ERR_STREAM_DESTROYED that nobody receives (counted in a child Node)", async () => {
  // The trailers close the stream in the pass of nghttp2 that writes the
  // message, before that write completes; were the stream destroyed there,
  // the write's completion would find it destroyed and Node 20's Writable
  // would build an ERR_STREAM_DESTROYED on every answer (holdDestroy in
  // grpc-answer.ts). The server runs in a child Node that counts them through
  // Node's own internals (--expose-internals) and answers as the sidecar
  // does: once the caller, another process as the engine is, has sent its
  // message and half-closed. The control, a write completing on a destroyed
  // Writable, shows the count works on this Node. GET /count answers the
  // counts, and whether its answers took the one-write way, in headers.
  const script = `
    const inspect = require("internal/util/inspect");
    const format = inspect.format;
    let built = 0;
    inspect.format = function (...args) {
      if (typeof args[0] === "string" && args[0].includes("after a stream was destroyed")) built++;
      return format.apply(this, args);
    };
    const http2 = require("node:http2");
    const { Writable } = require("node:stream");
    const { pathToFileURL } = require("node:url");
    (async () => {
      const { answerGrpc, oneWriteAnswers } = await import(pathToFileURL(process.argv[1]).href);
      const w = new Writable({ write: (chunk, encoding, cb) => setImmediate(cb) });
      w.write("x");
      w.destroy();
      await new Promise((r) => setImmediate(() => setImmediate(r)));
      const control = built;
      const server = http2.createServer();
      server.on("stream", (stream, headers) => {
        if (headers[":path"] === "/count") {
          stream.respond({ ":status": 200, "x-control": String(control), "x-built": String(built - control), "x-one-write": String(oneWriteAnswers()) }, { endStream: true });
          return;
        }
        stream.resume();
        stream.once("end", () =>
          answerGrpc(stream, { ":status": 200, "content-type": "application/grpc+proto" }, { "grpc-status": "0" }, Buffer.from([0, 0, 0, 0, 2, 8, 1])),
        );
      });
      server.listen(0, "127.0.0.1", () => process.stdout.write(String(server.address().port) + "\\n"));
      process.stdin.on("end", () => process.exit(0)).resume();
    })();`;
  const { spawn } = await import("node:child_process");
  const answerModule = new URL("../../dist/src/server/grpc-answer.js", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--expose-internals", "-e", script, answerModule], { stdio: ["pipe", "pipe", "inherit"] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once("exit", (code) => reject(new Error(`child exited (${code})`)));
    });
    const client = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let i = 0; i < 20; i++) expect((await call(client)).trailers["grpc-status"]).toBe("0");
      const counts = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        const req = client.request({ ":path": "/count" });
        req.on("response", resolve);
        req.on("error", reject);
        req.resume();
      });
      // The child's answers took the one-write way where this Node ships it (20), the way the count is about.
      expect({ control: counts["x-control"], built: counts["x-built"], oneWrite: counts["x-one-write"] }).toEqual({
        control: "1",
        built: "0",
        oneWrite: String(shipped),
      });
    } finally {
      client.close();
    }
  } finally {
    child.stdin.end();
  }
});
