// IP address and network parsing with Python `ipaddress` semantics (strict parsing, no
// implicit IPv4-mapped matching), plus HA's `is_local` (§3.3). Used for the client IP
// (§3.2), trusted proxies, trusted_networks (§3.4), local_only (§6.4) and client_id (§1.8).

const IPV4_PART = /^(0|[1-9][0-9]{0,2})$/;

function parseIpv4(text) {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    // Python >= 3.9.5 rejects leading zeros ("010.0.0.1") as ambiguous octal.
    if (!IPV4_PART.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text) {
  let address = text;
  const scopeAt = address.indexOf('%');
  if (scopeAt !== -1) {
    if (scopeAt === address.length - 1) return null;
    address = address.slice(0, scopeAt);
  }
  if (address.length === 0) return null;
  let tailV4 = null;
  const lastColon = address.lastIndexOf(':');
  if (address.slice(lastColon + 1).includes('.')) {
    tailV4 = parseIpv4(address.slice(lastColon + 1));
    if (tailV4 === null) return null;
    address = `${address.slice(0, lastColon + 1)}0:0`;
  }
  const halves = address.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part) => (part === '' ? [] : part.split(':'));
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  const explicitCount = head.length + tail.length;
  if (halves.length === 1 && explicitCount !== 8) return null;
  if (halves.length === 2 && explicitCount > 7) return null;
  const groups = [...head, ...Array(8 - explicitCount).fill('0'), ...tail];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== null) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

// Returns {version: 4|6, value: bigint} or null when Python's ip_address() would raise.
export function parseIp(text) {
  if (typeof text !== 'string') return null;
  if (text.includes(':')) {
    const value = parseIpv6(text);
    return value === null ? null : { version: 6, value };
  }
  const value = parseIpv4(text);
  return value === null ? null : { version: 4, value };
}

// Python str(ip_address(x)): dotted quad, or RFC 5952 compressed IPv6. An IPv4-mapped address
// keeps its dotted tail on Python 3.13 (::ffff:10.0.0.8); older Pythons print it as plain hex
// groups (::ffff:a00:8) — pass {mappedDotted: false} for those (§0.2).
export function formatIp(ip, { mappedDotted = true } = {}) {
  if (ip.version === 4) {
    const bytes = [24n, 16n, 8n, 0n].map((shift) => Number((ip.value >> shift) & 255n));
    return bytes.join('.');
  }
  if (mappedDotted && ip.value >> 32n === 0xffffn) {
    return `::ffff:${formatIp({ version: 4, value: ip.value & 0xffffffffn })}`;
  }
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((ip.value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) { start += 1; continue; }
    let end = start;
    while (end < 8 && groups[end] === 0) end += 1;
    if (end - start > bestLength && end - start > 1) { bestStart = start; bestLength = end - start; }
    start = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

export function canonicalIp(text) {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : null;
}

// Python ip_network(text) with strict=True: host bits must be zero. Throws on bad input,
// because HA refuses such a configuration at startup.
export function parseNetwork(text) {
  const [addressText, prefixText, ...rest] = String(text).split('/');
  const address = parseIp(addressText);
  if (!address || rest.length > 0) throw new Error(`invalid network ${text}`);
  const bits = address.version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || (prefixText !== undefined && !/^[0-9]+$/.test(prefixText))) {
    throw new Error(`invalid network ${text}`);
  }
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((address.value & hostMask) !== 0n) throw new Error(`network ${text} has host bits set`);
  return { version: address.version, base: address.value, prefix, hostMask, text: `${formatIp(address)}/${prefix}` };
}

// Python `address in network`: different IP versions never match (no IPv4-mapped magic).
export function networkContains(network, ip) {
  if (!ip || ip.version !== network.version) return false;
  return (ip.value & ~network.hostMask) === network.base;
}

export function inAnyNetwork(networks, ip) {
  return networks.some((network) => networkContains(network, ip));
}

// §3.3 is_local: loopback, RFC 1918, fd00::/8, their IPv4-mapped forms, and link-local.
// Deliberately excludes 100.64.0.0/10 (CGNAT/Tailscale) and fc00::/8.
const LOCAL_NETWORKS = [
  '127.0.0.0/8', '::1/128', '::ffff:127.0.0.0/104',
  '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fd00::/8',
  '::ffff:10.0.0.0/104', '::ffff:172.16.0.0/108', '::ffff:192.168.0.0/112',
  '169.254.0.0/16', 'fe80::/10',
].map(parseNetwork);

export function isLocal(ip) {
  return inAnyNetwork(LOCAL_NETWORKS, ip);
}
