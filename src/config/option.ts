import { parseArgs } from 'node:util';
import Type, { type Static, type TObject, type TSchema } from 'typebox';

/**
 * What one configuration option is, and what is derived from a table of them: the schema of the resulting
 * object, the command-line reading (node:util parseArgs), the --help lines and the README table.
 */

/** A configuration problem; `message` is one line naming the flag, variable or file. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `--help` or `--version` was given: print `text` and exit 0 instead of starting. */
export class ConfigInfoRequest extends Error {
  override readonly name = 'ConfigInfoRequest';
  constructor(
    readonly kind: 'help' | 'version',
    readonly text: string,
  ) {
    super(`${kind} requested`);
  }
}

/**
 * A text a parser cannot accept. `detail` is the phrase written after the flag or variable; left out, the error
 * line says the text is not what the option expects (its `expected` phrase).
 */
export class ValueProblem extends Error {
  constructor(readonly detail?: string) {
    super(detail ?? 'not the expected form');
  }
}

/** A default that depends on the machine or on an option listed before it; `text` is how --help shows it. */
export class Derived<T> {
  constructor(
    readonly text: string,
    readonly derive: (earlier: Readonly<Record<string, unknown>>) => T,
  ) {}
}

export interface Option<S extends TSchema = TSchema> {
  /** Long flag without its dashes; left out for settings that only come from the environment. */
  readonly flag?: string;
  /**
   * An on/off flag: `--<flag>` gives the text `on` and `--no-<flag>` the text `off`, neither takes a value; the
   * variable takes any text the parser reads.
   */
  readonly switch?: true;
  readonly short?: string;
  /**
   * The text a flag given without a value stands for (`--inspect` alone serves on the default address); without it
   * the value is required.
   */
  readonly bare?: string;
  readonly env: string;
  /** The value, as --help writes it after the flag. */
  readonly placeholder: string;
  readonly help: string;
  readonly schema: S;
  /** Trimmed, non-empty text to value; throws `ValueProblem`. */
  parse(text: string): Static<S>;
  readonly default: Static<S> | Derived<Static<S>>;
  /** The value as a user would write it (for --help and the README); `String(value)` when left out. */
  show?(value: Static<S>): string;
  /** Completes the error line `"<text>" is not <expected>` when the parser or the schema refuses a value. */
  readonly expected: string;
  /** A check of the outside world (files), run once every option has been read. */
  check?(value: Static<S>): Promise<void>;
}

/** Infers the schema type, so that `parse`, `default` and `show` are checked against it. */
export function option<S extends TSchema>(o: Option<S>): Option<S> {
  return o;
}

/** Options by their config property; a nested table is a nested object in the config. */
export interface Table {
  readonly [key: string]: Option | Table;
}

export type SchemaOf<T> =
  T extends Option<infer S>
    ? S
    : TObject<{ -readonly [K in keyof T]: SchemaOf<T[K]> } extends infer P extends Record<string, TSchema> ? P : never>;

function isOption(entry: Option | Table): entry is Option {
  return typeof entry.parse === 'function';
}

export function schemaOf<T extends Table>(table: T): SchemaOf<T> {
  const properties: Record<string, TSchema> = {};
  for (const [key, entry] of Object.entries(table)) properties[key] = isOption(entry) ? entry.schema : schemaOf(entry);
  return Type.Object(properties, { additionalProperties: false }) as SchemaOf<T>;
}

/** An option with where it goes in the config and the name error lines give it. */
export interface ListedOption extends Option {
  readonly path: readonly string[];
  /** `--flag`, or the variable for settings that only come from the environment. */
  readonly label: string;
}

/** The table's options in the order they are written (the order of --help). */
export function listOptions(table: Table, path: readonly string[] = []): ListedOption[] {
  return Object.entries(table).flatMap(([key, entry]) =>
    isOption(entry)
      ? [{ ...entry, path: [...path, key], label: entry.flag === undefined ? entry.env : `--${entry.flag}` }]
      : listOptions(entry, [...path, key]),
  );
}

/** A text given for an option and the flag or variable it came from. */
export interface Source {
  readonly text: string;
  readonly label: string;
}

/** The values given as flags, the last one of a repeated flag winning. */
function readFlags(argv: readonly string[], options: readonly ListedOption[]): Map<ListedOption, Source> {
  const byName = new Map<string, ListedOption>();
  for (const o of options) {
    if (o.flag !== undefined) byName.set(`--${o.flag}`, o);
    if (o.flag !== undefined && o.switch) byName.set(`--no-${o.flag}`, o);
    if (o.short !== undefined) byName.set(`-${o.short}`, o);
  }
  // A flag whose value may be left out, standing last or before another flag, is read as given with its bare text:
  // parseArgs would take the next flag as its value.
  const args = argv.map((written, i) => {
    const o = byName.get(written);
    const next = argv[i + 1];
    const bare = o?.bare !== undefined && (next === undefined || next.startsWith('-'));
    return bare ? `${written}=${o.bare}` : written;
  });
  const { tokens } = parseArgs({
    args,
    options: Object.fromEntries(
      options.flatMap((o): Array<[string, { type: 'string' | 'boolean'; short?: string }]> => {
        if (o.flag === undefined) return [];
        if (o.switch)
          return [
            [o.flag, { type: 'boolean' as const }],
            [`no-${o.flag}`, { type: 'boolean' as const }],
          ];
        return [[o.flag, { type: 'string' as const, ...(o.short && { short: o.short }) }]];
      }),
    ),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const found = new Map<ListedOption, Source>();
  for (const token of tokens) {
    if (token.kind === 'positional') {
      throw new ConfigError(`unexpected argument ${JSON.stringify(token.value)} (see --help)`);
    }
    // The name as written decides, not parseArgs's reading of it: a flag stands alone or with =value, so -l=x
    // gives x (parseArgs: '=x'), and -ldebug or -hl are unknown flags (parseArgs: -l debug, -h -l).
    const written = args[token.index]!;
    const eq = written.indexOf('=');
    const name = eq === -1 ? written : written.slice(0, eq);
    const option = byName.get(name);
    if (token.kind !== 'option' || option === undefined) throw new ConfigError(`unknown flag ${name} (see --help)`);
    if (option.switch) {
      if (eq !== -1) throw new ConfigError(`${name} takes no value (use --${option.flag} or --no-${option.flag})`);
      found.set(option, { text: name.startsWith('--no-') ? 'off' : 'on', label: name });
      continue;
    }
    const value = eq === -1 ? token.value : written.slice(eq + 1);
    // parseArgs takes whatever follows as the value; a flag there means this one's value was left out.
    if (value === undefined || (eq === -1 && byName.has(value.split('=')[0]!))) {
      throw new ConfigError(`${option.label}: missing value`);
    }
    if (value.trim() === '') throw new ConfigError(`${option.label}: empty value`);
    found.set(option, { text: value.trim(), label: option.label });
  }
  return found;
}

/** A variable set to nothing or blanks counts as unset. */
function readEnv(option: ListedOption, env: Record<string, string | undefined>): Source | null {
  const text = env[option.env]?.trim();
  return text ? { text, label: option.env } : null;
}

/** The one error line for a value `option` refused: the parser's own words, or "<text> is not <expected>". */
export function refusal(option: ListedOption, source: Source | undefined, problem: unknown): ConfigError {
  if (!(problem instanceof ValueProblem)) throw problem;
  const text = source?.text ?? defaultText(option);
  return new ConfigError(
    `${source?.label ?? option.label}: ${problem.detail ?? `${JSON.stringify(text)} is not ${option.expected}`}`,
  );
}

function place(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

export function valueAt(values: unknown, path: readonly string[]): unknown {
  return path.reduce((node, key) => (node as Record<string, unknown>)[key], values);
}

/** What the command line and the environment gave, before validation. */
export interface OptionValues {
  /** Shaped like the table: each option's value from its flag, else its variable, else its default. */
  readonly values: Record<string, unknown>;
  /** Where each value that was not a default came from. */
  readonly sources: ReadonlyMap<ListedOption, Source>;
}

export function readOptions(
  options: readonly ListedOption[],
  argv: readonly string[],
  env: Record<string, string | undefined>,
): OptionValues {
  const flags = readFlags(argv, options);
  const sources = new Map<ListedOption, Source>();
  const values: Record<string, unknown> = {};
  for (const option of options) {
    const source = flags.get(option) ?? readEnv(option, env);
    let value: unknown;
    if (source === null) {
      value = option.default instanceof Derived ? option.default.derive(values) : structuredClone(option.default);
    } else {
      sources.set(option, source);
      try {
        value = option.parse(source.text);
      } catch (problem) {
        throw refusal(option, source, problem);
      }
    }
    place(values, option.path, value);
  }
  return { values, sources };
}

/** The option whose value holds the JSON pointer a schema error names. */
export function optionAt(options: readonly ListedOption[], pointer: string): ListedOption | undefined {
  return options.find((o) => `${pointer}/`.startsWith(`/${o.path.join('/')}/`));
}

export function defaultText(option: Option): string {
  const value = option.default;
  if (value instanceof Derived) return value.text;
  if (value === null) return 'none';
  return option.show ? option.show(value) : String(value);
}

/** The option lines of --help. */
export function helpLines(options: readonly ListedOption[]): string[] {
  return options.flatMap((o) => {
    const names = [o.short && `-${o.short}`, o.flag && `--${o.flag}`].filter(Boolean).join(', ');
    const head =
      o.flag === undefined
        ? `(environment only) ${o.env}=${o.placeholder}`
        : o.switch
          ? `${names}, --no-${o.flag}   [${o.env}=${o.placeholder}]`
          : o.bare !== undefined
            ? `${names} [${o.placeholder}]   [${o.env}]`
            : `${names} ${o.placeholder}   [${o.env}]`;
    return [`  ${head}`, `      ${o.help}`, `      Default: ${defaultText(o)}`];
  });
}

/** The configuration table of README.md. */
export function markdownTable(options: readonly ListedOption[]): string {
  const cell = (text: string) => text.replaceAll('|', '\\|');
  const rows = options.map((o) => {
    const flags =
      o.flag === undefined
        ? '—'
        : [`\`--${o.flag}\``, o.switch && `\`--no-${o.flag}\``, o.short && `\`-${o.short}\``]
            .filter(Boolean)
            .join(', ');
    const fallback = o.default === null ? 'none' : `\`${defaultText(o)}\``;
    return `| ${flags} | \`${o.env}\` | ${cell(fallback)} | ${cell(o.help)} |`;
  });
  return ['| flag | env | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
