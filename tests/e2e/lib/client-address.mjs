// Makes this test process's plain HTTP requests to one Gatehouse come from a chosen loopback address
// (127.0.0.2, ...) instead of 127.0.0.1, which is also where Gatehouse itself connects to HA from. Only
// then can a test tell "HA saw the client" from "HA saw Gatehouse".
//
// tests/idp/drive-login.mjs (the browser-like login walker) opens every connection with `agent: false`,
// i.e. a fresh http.Agent, and offers no source-address option. Every such Agent opens its socket through
// http.Agent.prototype.createConnection; the hook below adds `localAddress` there, for the registered
// Gatehouse host:port only. Requests that already name a localAddress, and every other destination (the
// IdP, the HA double), are left alone. Test files run in their own processes, so the hook never leaks
// into another suite.
import http from 'node:http';

const bindings = new Map(); // "host:port" -> local address
let installed = false;

function install() {
  if (installed) return;
  installed = true;
  const original = http.Agent.prototype.createConnection;
  http.Agent.prototype.createConnection = function createConnectionFromClientAddress(options, ...rest) {
    const bound = bindings.get(`${options?.host}:${options?.port}`);
    const effective = bound && !options.localAddress ? { ...options, localAddress: bound } : options;
    return original.call(this, effective, ...rest);
  };
}

/**
 * From now on, plain-HTTP connections this process opens to host:port leave from `localAddress`.
 * Returns a function that removes the binding.
 */
export function bindClientAddress(host, port, localAddress) {
  install();
  const key = `${host}:${port}`;
  bindings.set(key, localAddress);
  return () => {
    if (bindings.get(key) === localAddress) bindings.delete(key);
  };
}
