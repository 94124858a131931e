import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a notification is never posted to unless TROUPE_NOTIFY_PRIVATE_ADDRESSES allows them: loopback,
 * private, shared, link-local (cloud metadata), unspecified and unique-local ranges. A runner names the URL, and the
 * server must not become its way into the network it sits in.
 */
const PRIVATE = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16]] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) PRIVATE.addSubnet(net, prefix, 'ipv6');

/** Whether `address` (an IP literal) is in a private range; an IPv4-mapped IPv6 address is judged as IPv4. */
export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  const family = isIP(address);
  return family === 0 ? false : PRIVATE.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export interface PostOutcome {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses private addresses: the connection goes to the address checked, never to another. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const allowed = addresses.filter((a) => !isPrivateAddress(a.address));
    if (allowed.length === 0) {
      const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to a private address only`);
      refused.code = 'EADDRNOTALLOWED';
      return callback(refused, []);
    }
    if (options.all) return callback(null, allowed);
    const first = allowed[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}

/**
 * POSTs `body` as JSON to `url` with `headers`; a 2xx is delivered, anything else (a redirect too) is not. Private
 * addresses are refused unless `allowPrivate`, whether the URL names one or its host resolves to one.
 */
export function postJson(url: URL, headers: Record<string, string>, body: string, options: { allowPrivate: boolean; signal: AbortSignal }): Promise<PostOutcome> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) {
    return Promise.resolve({ ok: false, statusCode: null, error: 'EADDRNOTALLOWED' });
  }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const init: RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
    signal: options.signal,
    ...(options.allowPrivate ? {} : { lookup: guardedLookup }),
  };
  return new Promise((resolve) => {
    const req = request(url, init, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      resolve({ ok, statusCode: status, error: ok ? null : `the receiver answered ${status}` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, statusCode: null, error: err.code ?? err.message }));
    req.end(body);
  });
}
