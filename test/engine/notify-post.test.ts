import { describe, expect, it } from 'vitest';
import { isPrivateAddress } from '../../src/engine/notify-post.js';

describe('isPrivateAddress (notifications never reach into the server’s network by default)', () => {
  it('refuses loopback, private, shared, link-local, unspecified and unique-local addresses, IPv4-mapped ones too', () => {
    for (const a of ['127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '169.254.169.254', '0.0.0.0', '::1', '::', 'fc00::1', 'fd12::3', 'fe80::1', '::ffff:127.0.0.1', '::FFFF:10.0.0.1']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
  });

  it('lets public addresses through, and judges only IP literals', () => {
    for (const a of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8', 'example.com', '']) {
      expect(isPrivateAddress(a), a).toBe(false);
    }
  });
});
