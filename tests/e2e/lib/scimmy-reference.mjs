// A SCIM 2.0 reference server for comparisons: the npm SCIMMY library (RFC 7643/7644 resources, filters,
// PATCH, list responses) behind its own express routers (scimmy-routers), with an in-memory store. SCIMMY
// leaves storage to the application: these handlers keep Users and Groups in maps, match filters with
// SCIMMY's own Filter, and refuse a duplicate userName/displayName (ignoring case, RFC 7643 §4.1.1
// caseExact false) with 409 uniqueness, as a SCIM service provider must. Nothing here is Gatehouse's.
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { randomUUID } from 'node:crypto';

let declared = false;
const stores = { User: new Map(), Group: new Map() };

function handlers(kind, uniqueAttribute) {
  const store = () => stores[kind];
  return {
    ingress: async (resource, instance) => {
      const wanted = String(instance[uniqueAttribute] ?? '').toLowerCase();
      for (const [id, existing] of store()) {
        if (id !== resource.id && String(existing[uniqueAttribute] ?? '').toLowerCase() === wanted) {
          throw new SCIMMY.Types.Error(409, 'uniqueness', `${uniqueAttribute} is already in use`);
        }
      }
      const now = new Date();
      if (resource.id) {
        const existing = store().get(resource.id);
        if (!existing) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        const updated = { ...JSON.parse(JSON.stringify(instance)), id: resource.id, meta: { ...existing.meta, lastModified: now } };
        store().set(resource.id, updated);
        return updated;
      }
      const id = randomUUID();
      const created = { ...JSON.parse(JSON.stringify(instance)), id, meta: { created: now, lastModified: now } };
      store().set(id, created);
      return created;
    },
    egress: async (resource) => {
      if (resource.id) {
        const found = store().get(resource.id);
        if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        return found;
      }
      const all = [...store().values()];
      return resource.filter ? resource.filter.match(all) : all;
    },
    degress: async (resource) => {
      if (!store().delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
      // As a service provider must: a deleted User leaves the Groups it was in.
      if (kind === 'User') {
        for (const group of stores.Group.values()) group.members = (group.members ?? []).filter((member) => member.value !== resource.id);
      }
    },
  };
}

/** Starts the reference server on 127.0.0.1; resolves { url (of /scim/v2), clear(), close() }. */
export async function startScimmyReference({ token }) {
  if (!declared) {
    declared = true;
    SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser), handlers('User', 'userName'));
    SCIMMY.Resources.declare(SCIMMY.Resources.Group, handlers('Group', 'displayName'));
  }
  const app = express();
  app.use('/scim/v2', new SCIMMYRouters({
    type: 'bearer',
    handler: (request) => {
      if (request.header('authorization') !== `Bearer ${token}`) throw new Error('Authorization failed');
      return 'provisioning-client';
    },
  }));
  const server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/scim/v2`,
    clear() { stores.User.clear(); stores.Group.clear(); },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}
