// Error kinds the double raises internally, named after the HA/Python exceptions whose
// wire behaviour they reproduce (websocket codes §4.3, HTTP 500 for uncaught exceptions).

// Python ValueError and other unexpected exceptions: websocket "unknown_error", or HTTP 500
// when a view does not catch it.
export class HaValueError extends Error {}

// HomeAssistantError, optionally translated (§4.3): websocket "home_assistant_error".
export class HomeAssistantError extends Error {
  constructor(message, { translationKey, translationPlaceholders, translationDomain = 'auth' } = {}) {
    super(message);
    this.translationKey = translationKey;
    this.translationPlaceholders = translationPlaceholders;
    this.translationDomain = translationKey ? translationDomain : undefined;
  }
}

// homeassistant.exceptions.Unauthorized: websocket "unauthorized" / "Unauthorized".
export class Unauthorized extends Error {}

// InvalidAuthError raised by providers (trusted_networks access checks, §3.4).
export class InvalidAuthError extends Error {}

// Exceptions HA does not catch in a view: the client sees HTTP 500 (§1.5, §1.8, §3.4).
export class UncaughtServerError extends Error {}

// Python's RecursionError: repr() of a value nested deeper than the interpreter's recursion
// limit allows (the voluptuous port, §4.3). HA does not catch it where it happens.
export class PythonRecursionError extends Error {}
