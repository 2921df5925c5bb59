/**
 * The cluster's store on etcd (npm etcd3 over gRPC). Its own bundle,
 * dist/cluster/etcd.cjs, loaded only when lxtd runs with `--cluster`
 * (etcd3 reads its .proto files from ../proto beside its module at load:
 * the build copies them to dist/proto).
 */
import { Etcd3, Range } from "etcd3";
import type { ClusterStore, StoreLease } from "./cluster-store.js";

/** Each call to etcd gives up after this long (a store that does not answer is an error, not a hang). */
const CALL_TIMEOUT_MS = 5000;

/**
 * Keys per range read. gRPC refuses an answer over 4 MB: a whole prefix in
 * one read fails once the cluster has a few thousand instance records
 * (about 1 KB each), so prefixes are read in pages of this many.
 */
const PAGE_KEYS = 500;

/** A store on the etcd members at `urls` (`http://127.0.0.1:2379`, ...). */
export function etcdStore(urls: readonly string[]): ClusterStore {
  const client = new Etcd3({
    hosts: [...urls],
    dialTimeout: CALL_TIMEOUT_MS,
    defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
  });
  return {
    where: `etcd at ${urls.join(",")}`,
    async lease(ttlSeconds): Promise<StoreLease> {
      const lease = client.lease(ttlSeconds, { autoKeepAlive: true });
      await lease.grant();
      return {
        async put(key, value) {
          await lease.put(key).value(value);
        },
        async create(key, value) {
          const res = await client
            .if(key, "Create", "==", 0)
            .then(client.put(key).value(value).lease(lease.grant()))
            .commit();
          return res.succeeded;
        },
        async revoke() {
          await lease.revoke();
        },
        onLost(cb) {
          lease.once("lost", cb);
        },
      };
    },
    async get(key) {
      return (await client.get(key).string()) ?? undefined;
    },
    async getPrefix(prefix) {
      // Pages at the first page's revision: one consistent view, as a single read gives.
      const out = new Map<string, string>();
      const end = Range.prefix(prefix).end;
      let start = Buffer.from(prefix);
      let revision: string | undefined;
      for (;;) {
        const q = client.getAll().inRange({ start, end }).limit(PAGE_KEYS);
        const res = await (revision ? q.revision(revision) : q).exec();
        revision ??= res.header.revision;
        for (const kv of res.kvs) out.set(kv.key.toString(), kv.value.toString());
        const last = res.kvs[res.kvs.length - 1];
        if (!res.more || !last) return out;
        start = Buffer.concat([last.key, Buffer.from([0])]);
      }
    },
    async put(key, value) {
      await client.put(key).value(value);
    },
    async delete(key) {
      await client.delete().key(key);
    },
    async claim(key, value) {
      const res = await client
        .if(key, "Create", "==", 0)
        .then(client.put(key).value(value))
        .else(client.get(key))
        .commit();
      if (res.succeeded) return undefined;
      const kv = res.responses[0]?.response_range.kvs[0];
      return kv ? kv.value.toString() : "";
    },
    async deleteIf(key, value) {
      await client.if(key, "Value", "==", value).then(client.delete().key(key)).commit();
    },
    async swap(key, from, to) {
      const res = await client
        .if(key, "Value", "==", from)
        .then(client.put(key).value(to))
        .commit();
      return res.succeeded;
    },
    async putUnless(key, value, guard) {
      const res = await client
        .if(guard, "Create", "==", 0)
        .then(client.put(key).value(value))
        .commit();
      return res.succeeded;
    },
    close() {
      client.close();
    },
  };
}
