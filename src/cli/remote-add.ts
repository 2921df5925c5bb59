/**
 * `lxt remote add`: the remote's server certificate is read and pinned
 * (checked against a token's fingerprint when a token is given), this state
 * root's client certificate is made trusted there with the token (LXD's
 * `POST /1.0/certificates` with `trust_token`), and the remote is kept only
 * once it answers as trusted.
 */
import { decodeToken } from "../api/trust-token.js";
import { LxtError } from "../core/errors.js";
import {
  checkRemoteName,
  localIdentity,
  parseRemoteUrl,
  type Remote,
  readRemotes,
  remoteRequest,
  remotesDir,
  serverCertificate,
  writeRemotes,
} from "./remote.js";

export interface AddRemoteOptions {
  token?: string;
  acceptCertificate: boolean;
}

/** Adds remote `name` at `url` to the state root's remotes; returns it with its fingerprint. */
export async function addRemote(
  lxcpath: string,
  name: string,
  url: string,
  opts: AddRemoteOptions,
): Promise<Remote & { fingerprint: string }> {
  checkRemoteName(name);
  const what = `remote add ${name}`;
  if (readRemotes(lxcpath).has(name)) {
    throw new LxtError(
      "exists",
      `${what}: remote "${name}" exists already (lxt remote remove it first)`,
    );
  }
  const token = opts.token === undefined ? undefined : decodeToken(opts.token.trim());
  if (opts.token !== undefined && !token) {
    throw new LxtError(
      "usage",
      `${what}: --token: not a trust token (lxt trust token NAME makes one)`,
    );
  }
  if (!token && !opts.acceptCertificate) {
    throw new LxtError(
      "usage",
      `${what}: give --token TOKEN (from \`lxt trust token NAME\` on the remote) or --accept-certificate`,
    );
  }
  const where = parseRemoteUrl(url);
  const id = localIdentity(lxcpath);
  const srv = await serverCertificate(where.url, id);
  if (token && token.fingerprint !== srv.fingerprint) {
    throw new LxtError(
      "remote",
      `${what}: ${where.url} presented certificate ${srv.fingerprint.slice(0, 12)}, the token names ${token.fingerprint.slice(0, 12)} (not the server the token came from)`,
    );
  }
  const remote: Remote = { name, url: where.url, certificate: srv.pem };
  const auth = async () =>
    (
      (await remoteRequest(remote, id, what, { method: "GET", path: "/1.0" })).metadata as {
        auth?: string;
      }
    )?.auth;
  if ((await auth()) !== "trusted") {
    if (!token) {
      throw new LxtError(
        "remote",
        `${what}: ${where.url} does not trust this client: give --token, or trust ${remotesDir(lxcpath)}/client.crt there (lxt trust add)`,
      );
    }
    await remoteRequest(remote, id, what, {
      method: "POST",
      path: "/1.0/certificates",
      body: { type: "client", trust_token: opts.token?.trim() },
    });
    if ((await auth()) !== "trusted") {
      throw new LxtError(
        "remote",
        `${what}: ${where.url} took the token but does not trust this client`,
      );
    }
  }
  // Read again: another `remote add` may have written meanwhile.
  const all = readRemotes(lxcpath);
  all.set(name, remote);
  writeRemotes(lxcpath, all);
  return { ...remote, fingerprint: srv.fingerprint };
}
