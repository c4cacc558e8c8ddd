// How HA reads JSON from clients: orjson.loads (websocket messages §4.1/§4.3, HTTP JSON bodies
// §1.1). The double uses JSON.parse, which has no nesting limit; orjson refuses documents
// nested deeper than 1024 arrays/objects with a JSONDecodeError (a ValueError), and HA treats
// that like any other invalid JSON. Every JSON document a client sends goes through here, so
// nothing in the double recurses deeper than this over client data.

// orjson's loads limit (orjson >= 3.9.15, HA >= 2024.3): 1024 nested levels parse, 1025 fail.
export const MAX_JSON_DEPTH = 1024;

// Deepest array/object nesting of a JSON text, without recursion. Brackets inside strings do
// not count. Stops counting (returns limit + 1) as soon as the limit is passed.
export function jsonDepthExceeds(text, limit = MAX_JSON_DEPTH) {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c) index += 1; // backslash: skip the escaped character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x5b || code === 0x7b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === 0x5d || code === 0x7d) {
      depth -= 1;
    }
  }
  return false;
}

// Returns {ok: true, value} or {ok: false} where orjson.loads would raise.
export function parseClientJson(text) {
  if (jsonDepthExceeds(text)) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}
