/**
 * The cluster's store on etcd (npm etcd3 over gRPC). Its own bundle,
 * dist/cluster/etcd.cjs, loaded only when lxtd runs with `--cluster`
 * (etcd3 reads its .proto files from ../proto beside its module at load:
 * the build copies them to dist/proto).
 */
import { Etcd3 } from "etcd3";
import type { ClusterStore, StoreLease } from "./cluster-store.js";

/** Each call to etcd gives up after this long (a store that does not answer is an error, not a hang). */
const CALL_TIMEOUT_MS = 5000;

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
      return new Map(Object.entries(await client.getAll().prefix(prefix).strings()));
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
    close() {
      client.close();
    },
  };
}
