// The test-control API under /__double/ (JSON). Not part of Home Assistant: it lets tests
// seed users and tokens, read what the double saw (failed logins, request counts, websocket
// counters, webhook deliveries, service calls), fire events and move the clock. It bypasses
// HA's middleware (no XFF checks, not counted in request counts).

export async function handleControlRequest(double, ctx) {
  const path = ctx.path.slice('/__double'.length);
  const method = ctx.method;
  const readJson = async () => {
    const parsed = await ctx.jsonBody();
    if (!parsed.ok && (await ctx.body()).length) throw new ControlError(400, 'body must be JSON');
    return parsed.ok ? parsed.value ?? {} : {};
  };
  try {
    const userMatch = /^\/users\/([^/]+)$/.exec(path);
    const tokenMatch = /^\/refresh-tokens\/([^/]+)$/.exec(path);
    let result;
    if (method === 'GET' && path === '/state') result = double.state;
    else if (method === 'GET' && path === '/users') result = double.users();
    else if (method === 'POST' && path === '/users') result = await double.createUser(await readJson());
    else if (method === 'POST' && userMatch) result = double.updateUser(userMatch[1], await readJson());
    else if (method === 'DELETE' && userMatch) result = double.deleteUser(userMatch[1]);
    else if (method === 'POST' && path === '/long-lived-tokens') {
      const body = await readJson();
      result = double.createLongLivedToken(body.userId, body);
    } else if (method === 'GET' && path === '/refresh-tokens') result = double.refreshTokens();
    else if (method === 'DELETE' && tokenMatch) result = double.removeRefreshTokenById(tokenMatch[1]);
    else if (method === 'GET' && path === '/failed-logins') result = double.failedLogins;
    else if (method === 'GET' && path === '/request-counts') result = double.requestCounts;
    else if (method === 'GET' && path === '/websockets') result = double.websocketCounters;
    else if (method === 'GET' && path === '/webhook-deliveries') result = double.webhookDeliveries;
    else if (method === 'GET' && path === '/service-calls') result = double.serviceCalls;
    else if (method === 'POST' && path === '/events') {
      const body = await readJson();
      result = double.fireEvent(body.type, body.data ?? {});
    } else if (method === 'POST' && path === '/states') {
      const body = await readJson();
      result = double.setState(body.entityId, body.state, body.attributes);
    } else if (method === 'POST' && path === '/onboarding') {
      const body = await readJson();
      double.setOnboarded(Boolean(body.done));
      result = { done: Boolean(body.done) };
    } else if (method === 'POST' && path === '/clock') {
      const body = await readJson();
      if (typeof body.now === 'number') double.setNow(body.now);
      if (typeof body.advance === 'number') double.advance(body.advance);
      result = { now: double.now() };
    } else if (method === 'POST' && path === '/reset-counters') {
      double.resetCounters();
      result = {};
    } else if (method === 'POST' && path === '/stopping') {
      const body = await readJson();
      double.setStopping(Boolean(body.stopping));
      result = { stopping: Boolean(body.stopping) };
    } else throw new ControlError(404, `no control route ${method} ${path}`);
    ctx.send(200, { 'Content-Type': 'application/json' }, JSON.stringify(result ?? null));
  } catch (error) {
    const status = error instanceof ControlError ? error.status : 400;
    ctx.send(status, { 'Content-Type': 'application/json' }, JSON.stringify({ error: error.message }));
  }
}

export class ControlError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}
