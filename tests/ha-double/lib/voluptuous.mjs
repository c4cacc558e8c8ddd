// A small schema checker that produces voluptuous' error texts, because HA puts those
// texts on the wire: "Message format incorrect: <error>" (§1.1) and websocket
// invalid_format messages built with humanize_error (§4.3).

import { PythonRecursionError } from './errors.mjs';

// Python's repr(). It recurses over client data, so the depth is bounded: past `depthLimit`
// nested containers it throws PythonRecursionError, as Python's recursion limit would. Client
// JSON is at most 1024 levels deep (lib/json.mjs); the default only guards the stack.
export const REPR_DEPTH_GUARD = 2048;

export function pyRepr(value, depthLimit = REPR_DEPTH_GUARD) {
  const repr = (item, depth) => {
    if (item === null || item === undefined) return 'None';
    if (item === true) return 'True';
    if (item === false) return 'False';
    if (typeof item === 'number') return String(item);
    if (typeof item === 'string') {
      const quote = item.includes("'") && !item.includes('"') ? '"' : "'";
      const escaped = item.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
      return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
    }
    if (depth >= depthLimit) throw new PythonRecursionError('maximum recursion depth exceeded while getting the repr of an object');
    if (Array.isArray(item)) return `[${item.map((element) => repr(element, depth + 1)).join(', ')}]`;
    return `{${Object.entries(item).map(([key, element]) => `${repr(key, depth + 1)}: ${repr(element, depth + 1)}`).join(', ')}}`;
  };
  return repr(value, 0);
}

class Invalid {
  constructor(message, path = [], { keyLevel = false } = {}) {
    this.message = message;
    this.path = path;
    this.keyLevel = keyLevel;
  }

  toString() {
    let text = this.message;
    // voluptuous appends " for dictionary value" to errors raised at the key's own level.
    if (this.keyLevel) text += ' for dictionary value';
    if (this.path.length) text += ` @ data[${this.path.map(pyRepr).join('][')}]`;
    return text;
  }
}

// Validators return an array of Invalid (empty when valid); `path` is where the value sits.
const typeCheck = (name, test) => (value, path) => (test(value) ? [] : [new Invalid(`expected ${name}`, path)]);

export const str = typeCheck('str', (value) => typeof value === 'string');
export const int = typeCheck('int', (value) => Number.isInteger(value));
export const bool = typeCheck('bool', (value) => typeof value === 'boolean');

export const literal = (expected) => (value, path) => (value === expected ? [] : [new Invalid('not a valid value', path)]);

export const strOrNull = (value, path) => (value === null || typeof value === 'string' ? [] : [new Invalid('expected str', path)]);

export const listOf = (itemValidator) => (value, path) => {
  if (!Array.isArray(value)) return [new Invalid('expected list', path)];
  return value.flatMap((item, index) => itemValidator(item, [...path, index]));
};

export const length = (min, max) => (value, path) => {
  if (value.length < min) return [new Invalid(`length of value must be at least ${min}`, path)];
  if (value.length > max) return [new Invalid(`length of value must be at most ${max}`, path)];
  return [];
};

export const minLengthStr = (min) => (value, path) => {
  if (typeof value !== 'string') return [new Invalid('expected str', path)];
  return value.length < min ? [new Invalid(`length of value must be at least ${min}`, path)] : [];
};

export const all = (...validators) => (value, path) => {
  for (const validator of validators) {
    const errors = validator(value, path);
    if (errors.length) return errors;
  }
  return [];
};

export const any = (...validators) => (value, path) => {
  let firstErrors = null;
  for (const validator of validators) {
    const errors = validator(value, path);
    if (!errors.length) return [];
    firstErrors ??= errors;
  }
  return firstErrors;
};

export const mapOf = (keyValidator, valueValidator) => (value, path) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [new Invalid('expected a dictionary', path)];
  return Object.entries(value).flatMap(([key, item]) => [...keyValidator(key, [...path, key]), ...valueValidator(item, [...path, key])]);
};

export const anything = () => [];

// fields: {name: {required?, validator, default?}}. Extra keys are refused (PREVENT_EXTRA)
// unless allowExtra. Returns {value} or {errors}.
export function validateMapping(fields, data, { allowExtra = false } = {}) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { errors: [new Invalid('expected a dictionary')] };
  }
  const errors = [];
  const value = {};
  for (const [key, item] of Object.entries(data)) {
    const field = fields[key];
    if (!field) {
      if (allowExtra) value[key] = item;
      else errors.push(new Invalid('extra keys not allowed', [key]));
      continue;
    }
    for (const error of field.validator(item, [key])) {
      if (error.path.length <= 1) error.keyLevel = true;
      errors.push(error);
    }
    value[key] = item;
  }
  for (const [key, field] of Object.entries(fields)) {
    if (key in data) continue;
    if (field.required) errors.push(new Invalid('required key not provided', [key]));
    else if ('default' in field) value[key] = typeof field.default === 'function' ? field.default() : field.default;
  }
  return errors.length ? { errors } : { value };
}

// str(MultipleInvalid) is the text of its first error.
export function firstErrorText(errors) {
  return String(errors[0]);
}

function nestedGet(data, path) {
  let current = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return null;
    current = current[key];
  }
  return current;
}

// voluptuous.humanize.humanize_error: every error with the offending value, sorted.
// `reprDepthLimit`: see pyRepr.
export function humanizeError(data, errors, { reprDepthLimit = REPR_DEPTH_GUARD } = {}) {
  return errors
    .map((error) => {
      let got = pyRepr(nestedGet(data, error.path), reprDepthLimit);
      if (got.length > 500) got = `${got.slice(0, 497)}...`;
      return `${error}. Got ${got}`;
    })
    .sort()
    .join('\n');
}

export function invalid(message, path = []) {
  return new Invalid(message, path);
}
