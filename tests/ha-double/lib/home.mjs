// The small "home" behind the API: an event bus (§4.4 bus events, subscribe_events), a
// handful of fake entity states, service calls that toggle them, the core config, and
// person records (§6.5). None of this is auth; it gives clients something real to read.

import { randomUUID } from 'node:crypto';
import { isoFromMs } from './clock.mjs';

const contextId = () => randomUUID().replaceAll('-', '').toUpperCase().slice(0, 26);

export class EventBus {
  #listeners = new Set();

  constructor(clock) {
    this.clock = clock;
  }

  // eventType "*" (MATCH_ALL) receives everything.
  listen(eventType, callback) {
    const listener = { eventType, callback };
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  fire(eventType, data = {}, userId = null) {
    const event = {
      event_type: eventType,
      data,
      origin: 'LOCAL',
      time_fired: isoFromMs(this.clock.now()),
      context: { id: contextId(), parent_id: null, user_id: userId },
    };
    for (const listener of [...this.#listeners]) {
      if (listener.eventType === '*' || listener.eventType === eventType) listener.callback(event);
    }
    return event;
  }
}

const SEED_STATES = [
  ['light.kitchen', 'on', { friendly_name: 'Kitchen', supported_color_modes: ['onoff'], color_mode: 'onoff' }],
  ['light.living_room', 'off', { friendly_name: 'Living room', supported_color_modes: ['onoff'], color_mode: null }],
  ['switch.coffee_maker', 'off', { friendly_name: 'Coffee maker' }],
  ['sensor.outdoor_temperature', '21.5', { friendly_name: 'Outdoor temperature', unit_of_measurement: '°C', device_class: 'temperature' }],
  ['binary_sensor.front_door', 'off', { friendly_name: 'Front door', device_class: 'door' }],
];

const TOGGLE_DOMAINS = new Set(['light', 'switch', 'input_boolean', 'fan']);

export class Home {
  states = new Map();
  serviceCalls = [];
  persons = [];

  constructor({ clock, bus, version, features = {} }) {
    this.clock = clock;
    this.bus = bus;
    this.version = version;
    this.features = features;
    for (const [entityId, state, attributes] of SEED_STATES) this.#writeState(entityId, state, attributes, null);
  }

  #writeState(entityId, state, attributes, userId) {
    const when = isoFromMs(this.clock.now());
    const old = this.states.get(entityId) ?? null;
    const changed = !old || old.state !== state;
    const next = {
      entity_id: entityId,
      state: String(state),
      attributes: { ...(attributes ?? old?.attributes ?? {}) },
      last_changed: changed ? when : old.last_changed,
      last_reported: when,
      last_updated: when,
      context: { id: contextId(), parent_id: null, user_id: userId },
    };
    // §0.2: last_reported arrived in 2024.3.
    if (!this.features.lastReported) delete next.last_reported;
    this.states.set(entityId, next);
    return { old, next };
  }

  setState(entityId, state, attributes, userId = null) {
    const { old, next } = this.#writeState(entityId, state, attributes, userId);
    this.bus.fire('state_changed', { entity_id: entityId, old_state: old, new_state: next }, userId);
    return next;
  }

  removeState(entityId) {
    const old = this.states.get(entityId);
    if (!old) return false;
    this.states.delete(entityId);
    this.bus.fire('state_changed', { entity_id: entityId, old_state: old, new_state: null });
    return true;
  }

  readableStates(user) {
    return user.canReadEntities() ? [...this.states.values()] : [];
  }

  // Records the call and toggles on/off entities so subscribers see a state change.
  callService(domain, service, serviceData = {}, target = {}, userId = null) {
    const entityIds = [serviceData.entity_id, target?.entity_id].flat().filter((item) => typeof item === 'string');
    this.serviceCalls.push({ domain, service, serviceData, target, userId, at: this.clock.now() });
    this.bus.fire('call_service', { domain, service, service_data: serviceData }, userId);
    const changed = [];
    if (TOGGLE_DOMAINS.has(domain)) {
      for (const entityId of entityIds) {
        const current = this.states.get(entityId);
        if (!current) continue;
        const next = service === 'turn_on' ? 'on' : service === 'turn_off' ? 'off' : service === 'toggle' ? (current.state === 'on' ? 'off' : 'on') : null;
        if (next !== null) changed.push(this.setState(entityId, next, current.attributes, userId));
      }
    }
    return changed;
  }

  // The core config (get_config, /api/config) in HA's key order. §0.2: 2023.9 has the legacy
  // whitelist_external_dirs and no debug, radius, recovery_mode or unit_system.area.
  config() {
    const legacy = this.features.legacyCoreConfig;
    const unitSystem = { length: 'km', accumulated_precipitation: 'mm', area: 'm²', mass: 'g', pressure: 'Pa', temperature: '°C', volume: 'L', wind_speed: 'm/s' };
    if (legacy) delete unitSystem.area;
    const config = {
      latitude: 52.37,
      longitude: 4.89,
      elevation: 0,
      ...(legacy ? {} : { radius: 100 }),
      unit_system: unitSystem,
      location_name: 'Home',
      time_zone: 'UTC',
      components: ['api', 'auth', 'config', 'frontend', 'http', 'onboarding', 'person', 'webhook', 'websocket_api'],
      config_dir: '/config',
      ...(legacy ? { whitelist_external_dirs: ['/config/www', '/media'] } : {}),
      allowlist_external_dirs: ['/config/www', '/media'],
      allowlist_external_urls: [],
      version: this.version,
      config_source: 'storage',
      ...(legacy ? {} : { recovery_mode: false }),
      state: 'RUNNING',
      external_url: null,
      internal_url: null,
      currency: 'EUR',
      country: 'NL',
      language: 'en',
      safe_mode: false,
      ...(legacy ? {} : { debug: false }),
    };
    return config;
  }

  services() {
    const toggle = { turn_on: { name: 'Turn on', description: '', fields: {} }, turn_off: { name: 'Turn off', description: '', fields: {} }, toggle: { name: 'Toggle', description: '', fields: {} } };
    return { light: toggle, switch: toggle, homeassistant: { restart: { name: 'Restart', description: '', fields: {} } } };
  }

  // §6.5 person records; one person per user.
  createPerson({ name, user_id: userId = null, device_trackers: deviceTrackers = [], picture = null }) {
    const person = { id: randomUUID().replaceAll('-', '').slice(0, 26), name, user_id: userId, device_trackers: deviceTrackers, picture };
    this.persons.push(person);
    return person;
  }

  // §6.5: deleting a user keeps the person and clears its user_id.
  unlinkPersonsOf(userId) {
    for (const person of this.persons) if (person.user_id === userId) person.user_id = null;
  }
}

// §4.4 subscribe_entities uses a compressed state: s, a, c (context id), lc/lu (epoch seconds).
export function compressedState(state) {
  const compressed = { s: state.state, a: state.attributes, c: state.context.id, lc: Date.parse(state.last_changed.replace('000+00:00', 'Z')) / 1000 };
  if (state.last_updated !== state.last_changed) compressed.lu = Date.parse(state.last_updated.replace('000+00:00', 'Z')) / 1000;
  return compressed;
}
