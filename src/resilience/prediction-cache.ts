/**
 * The prediction cache (lru-cache), bounded by `cache.max_entries` and
 * `cache.max_bytes`. An entry is fresh for `cache.ttl`, then kept for
 * `cache.stale_ttl` more, to answer (flagged STALE_CACHE) while the backend
 * fails: stale-if-error. The clock is injected so tests need no sleeping.
 */
import { LRUCache } from "lru-cache";
import type { Clock } from "../api/call-context.js";

/**
 * A cached answer. A class, not `{ ...entry, freshUntil, storedAt }`: once
 * optimized, V8 (11.3, Node 20) gives every object made by a spread with
 * properties added after it a hidden class of its own — two maps and a
 * descriptor array per entry, in old space, which every full GC walks and
 * every eviction turns into old-space garbage.
 */
export class CachedAnswer<T> {
  constructor(
    readonly response: T,
    readonly model: string,
    readonly modelVersion: string,
    /** Serialized size, counted against cache.max_bytes. */
    readonly bytes: number,
    /** Fresh until this instant (on the injected clock). */
    readonly freshUntil: number,
  ) {}
}

/** What a caller stores; the cache adds the time it stays fresh. */
export type CacheEntry<T> = Omit<CachedAnswer<T>, "freshUntil">;

export interface PredictionCacheOptions {
  readonly ttlMs: number;
  readonly staleTtlMs: number;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly clock: Clock;
  /** Told when an entry is pushed out by the bounds (not when it expires). */
  readonly onEvict?: () => void;
}

export class PredictionCache<T> {
  private readonly lru: LRUCache<string, CachedAnswer<T>> | undefined;

  constructor(private readonly options: PredictionCacheOptions) {
    const enabled = options.maxEntries > 0 && options.ttlMs > 0;
    this.lru = enabled
      ? new LRUCache<string, CachedAnswer<T>>({
          max: options.maxEntries,
          maxSize: options.maxBytes,
          sizeCalculation: (v, k) => v.bytes + k.length,
          ttl: options.ttlMs + options.staleTtlMs,
          perf: { now: options.clock },
          // Read the clock on every check (the default caches it for 1 ms).
          ttlResolution: 0,
          dispose: (_v, _k, reason) => {
            if (reason === "evict") options.onEvict?.();
          },
        })
      : undefined;
  }

  get enabled(): boolean {
    return this.lru !== undefined;
  }

  /** The entry for `key`, fresh or stale, or undefined. */
  lookup(key: string): { answer: CachedAnswer<T>; fresh: boolean } | undefined {
    const answer = this.lru?.get(key);
    if (answer === undefined) return undefined;
    return { answer, fresh: this.options.clock() < answer.freshUntil };
  }

  store(key: string, entry: CacheEntry<T>): void {
    if (this.lru === undefined) return;
    if (entry.bytes + key.length > this.options.maxBytes) return;
    const now = this.options.clock();
    this.lru.set(key, new CachedAnswer(entry.response, entry.model, entry.modelVersion, entry.bytes, now + this.options.ttlMs));
  }

  get size(): number {
    return this.lru?.size ?? 0;
  }

  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }
}
