/** Flags of one command: names (without --) to 'string' | 'number' | 'numbers' | 'boolean'. */
export type FlagSpec = Record<string, 'string' | 'number' | 'numbers' | 'boolean'>;
export type Parsed = Record<string, string | number | number[] | boolean | undefined>;

/** A mistake by the user: printed as one line, no stack trace, exit code 2. */
export class UsageError extends Error {}

const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * Parses `--name value`, `--name=value` and boolean `--name`. A value may start with '-' when it is a
 * number (`--baselines -0.5`). Unknown flags and missing or malformed values are errors.
 */
export function parseArgs(argv: string[], spec: FlagSpec, command: string): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}' for '${command}' (see glimpse ${command} --help)`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const type = spec[name];
    if (!type) throw new UsageError(`'${command}' has no option --${name} (see glimpse ${command} --help)`);
    if (type === 'boolean') {
      if (value !== undefined) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && !NUMBER.test(next)) || (next.startsWith('-') && !NUMBER.test(next) && type !== 'numbers')) {
        throw new UsageError(`--${name} needs a value`);
      }
      value = next;
      i++;
    }
    if (type === 'number') {
      if (!NUMBER.test(value)) throw new UsageError(`--${name} must be a number, got '${value}'`);
      out[name] = Number(value);
    } else if (type === 'numbers') {
      const parts = value.split(',');
      if (parts.some((p) => !NUMBER.test(p.trim()))) throw new UsageError(`--${name} must be comma-separated numbers, got '${value}'`);
      out[name] = parts.map((p) => Number(p.trim()));
    } else {
      out[name] = value;
    }
  }
  return out;
}

export function int(v: unknown, name: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${v}`);
  return v;
}
