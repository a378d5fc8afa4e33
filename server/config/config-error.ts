/** Thrown when the environment is invalid; the message names the bad variable and never a secret value. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
