/**
 * docker-compose.yml cannot be started here (no Docker), so it is checked against what it relies on: the CLI's
 * real subcommands and options (`node bin/troupe.js <cmd> --help`, built into dist/), the configuration schema,
 * the Dockerfile's entry point, and the NATS service the others connect to. The checks are functions returning
 * problems, so the second block can prove that each one catches a broken file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { CONFIG_DEFAULTS, configSchema, loadConfig } from '../src/core/config.js';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'troupe.js');
/** Variables a service may set that are not configuration keys, because the CLI reads them (README.md). */
const DOCUMENTED_EXTRA = ['TROUPE_SERVER', 'TROUPE_TOKEN'];

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: number | string })[];
  depends_on?: string[] | Record<string, unknown>;
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
}
interface OptionSpec {
  takesValue: boolean;
  /** The variable the help names as the option's stand-in ("(or QUEUE_WORKER_COUNT; …)"). */
  envVar?: string;
}
/** Subcommand → its options, as `--help` lists them. */
type Cli = Map<string, Map<string, OptionSpec>>;

function troupeHelp(...args: string[]): string {
  return execFileSync(process.execPath, [BIN, ...args, '--help'], { encoding: 'utf8' });
}

/** The lines of one section of commander's help ("Options:", "Commands:"), continuation lines dropped. */
function section(help: string, title: string): string[] {
  const lines = help.split('\n');
  const start = lines.indexOf(`${title}:`);
  if (start < 0) return [];
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    // An entry starts two spaces in; a wrapped description is indented further.
    if (/^ {2}\S/.test(line)) body.push(line.trim().split(/\s{2,}/)[0] as string);
  }
  return body;
}

function readCli(): Cli {
  const cli: Cli = new Map();
  const commands = section(troupeHelp(), 'Commands').map((entry) => entry.split(' ')[0] as string);
  for (const command of commands.filter((c) => c !== 'help')) {
    const help = troupeHelp(command);
    const options = new Map<string, OptionSpec>();
    const lines = help.split('\n');
    for (const entry of section(help, 'Options')) {
      // The entry's full description, wrapped lines included, for "(or VAR".
      const at = lines.findIndex((l) => l.trim().startsWith(entry));
      let description = (lines[at] ?? '').trim().slice(entry.length);
      for (const next of lines.slice(at + 1)) {
        if (!/^ {4,}\S/.test(next)) break;
        description += ` ${next.trim()}`;
      }
      const envVar = /\(or ([A-Z][A-Z0-9_]+)/.exec(description)?.[1];
      for (const name of entry.match(/--?[A-Za-z][\w-]*/g) ?? []) {
        options.set(name, { takesValue: /<[^>]+>/.test(entry), ...(envVar ? { envVar } : {}) });
      }
    }
    cli.set(command, options);
  }
  return cli;
}

const listOf = (command: Service['command']): string[] =>
  command === undefined ? [] : Array.isArray(command) ? command.map(String) : command.split(/\s+/).filter(Boolean);

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((pair) => [pair.split('=')[0] as string, pair.slice(pair.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Services that run Troupe: built from the Dockerfile. */
const troupeServices = (compose: Compose): [string, Service][] =>
  Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

/** The CLI arguments of every Troupe service: subcommand and options that `--help` lists, values that the schema accepts. */
function commandProblems(compose: Compose, cli: Cli): string[] {
  const problems: string[] = [];
  for (const [name, service] of troupeServices(compose)) {
    const [command, ...args] = listOf(service.command);
    const options = command === undefined ? undefined : cli.get(command);
    if (command === undefined || options === undefined) {
      problems.push(`${name}: command ${JSON.stringify(service.command)} is not a troupe subcommand (${[...cli.keys()].join(', ')})`);
      continue;
    }
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      if (!arg.startsWith('-')) {
        problems.push(`${name}: unexpected argument ${JSON.stringify(arg)} to troupe ${command}`);
        continue;
      }
      const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
      const spec = options.get(flag);
      if (!spec) {
        problems.push(`${name}: troupe ${command} has no option ${flag} (it has ${[...options.keys()].join(', ')})`);
        continue;
      }
      if (!spec.takesValue) continue;
      const value = inline ?? args[++i];
      if (value === undefined) {
        problems.push(`${name}: ${flag} needs a value`);
        continue;
      }
      const key = spec.envVar as keyof typeof configSchema.shape | undefined;
      if (key && key in configSchema.shape && !configSchema.shape[key].safeParse(value).success) {
        problems.push(`${name}: ${flag} ${JSON.stringify(value)} is not a valid ${key}`);
      }
    }
  }
  return problems;
}

/** Every variable set on a Troupe service is a configuration key (with a valid value) or a documented one. */
function environmentProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const known = new Set<string>([...Object.keys(configSchema.shape), ...DOCUMENTED_EXTRA]);
  for (const [name, service] of troupeServices(compose)) {
    const env = environmentOf(service);
    for (const key of Object.keys(env)) if (!known.has(key)) problems.push(`${name}: ${key} is not a Troupe setting`);
    try {
      loadConfig(env);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** NATS_URL names the nats service and the port it listens on; published ports are the ones Troupe listens on. */
function wiringProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const natsName = Object.keys(compose.services).find((n) => compose.services[n]?.image?.startsWith('nats'));
  const nats = natsName === undefined ? undefined : compose.services[natsName];
  if (natsName === undefined || nats === undefined) return ['no service runs the nats image'];
  const natsArgs = listOf(nats.command);
  if (!natsArgs.includes('-js') && !natsArgs.includes('--jetstream')) problems.push(`${natsName}: JetStream is not enabled (-js)`);
  const portFlag = natsArgs.findIndex((a) => a === '-p' || a === '--port');
  const natsPort = portFlag >= 0 ? Number(natsArgs[portFlag + 1]) : 4222;
  for (const [name, service] of troupeServices(compose)) {
    const env = environmentOf(service);
    const [command] = listOf(service.command);
    if (env.NATS_URL === undefined) {
      problems.push(`${name}: no NATS_URL, so it would not run in distributed mode`);
    } else {
      for (const server of env.NATS_URL.split(',')) {
        const url = new URL(server.trim());
        if (url.hostname !== natsName || Number(url.port || 4222) !== natsPort) {
          problems.push(`${name}: NATS_URL ${server} is not the ${natsName} service on port ${natsPort}`);
        }
      }
    }
    const dependsOn = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    if (!dependsOn.includes(natsName)) problems.push(`${name}: does not depend on ${natsName}`);
    if (env.MONGODB_URL !== undefined && new URL(env.MONGODB_URL).hostname !== 'mongo') {
      problems.push(`${name}: MONGODB_URL does not point at the mongo service`);
    }
    const listens = Number(env.PORT ?? CONFIG_DEFAULTS.PORT);
    for (const mapping of service.ports ?? []) {
      const target = typeof mapping === 'object' ? mapping.target : Number(String(mapping).split(':').pop()?.split('/')[0]);
      if (command !== 'serve') problems.push(`${name}: publishes port ${target}, but only troupe serve listens`);
      else if (target !== listens) problems.push(`${name}: publishes container port ${target}, but troupe serve listens on PORT ${listens}`);
    }
  }
  return problems;
}

const load = (text: string): Compose => {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
  return doc.toJS() as Compose;
};
const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
let cli: Cli;

beforeAll(() => {
  // bin/troupe.js loads dist/: run `npm run build` first (npm test does).
  cli = readCli();
});

describe('docker-compose.yml', () => {
  const compose = load(composeText);

  it('has nats, mongo, the engine and two workers', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['engine', 'mongo', 'nats', 'worker-1', 'worker-2']);
    expect(troupeServices(compose).map(([n]) => n).sort()).toEqual(['engine', 'worker-1', 'worker-2']);
  });

  it('runs the engine as API + coordinator only and the workers as troupe worker, one of them with labels', () => {
    expect(listOf(compose.services.engine?.command)).toEqual(['serve', '--no-workers']);
    const workers = ['worker-1', 'worker-2'].map((n) => listOf(compose.services[n]?.command));
    for (const args of workers) expect(args[0]).toBe('worker');
    expect(workers.some((args) => args.includes('--labels'))).toBe(true);
  });

  it('builds Troupe from the Dockerfile, whose entry point is the troupe CLI', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
    expect(entry, 'an exec-form ENTRYPOINT').toBeDefined();
    const argv = JSON.parse(entry as string) as string[];
    expect(argv[0]).toBe('node');
    expect(argv.at(-1)).toMatch(/bin\/troupe\.js$/);
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim\b/m);
  });

  it('uses only subcommands and options that the CLI lists, with valid values', () => {
    expect(cli.get('worker')?.has('--labels')).toBe(true); // the help was read at all
    expect(commandProblems(compose, cli)).toEqual([]);
  });

  it('sets only configuration variables, with valid values', () => {
    expect(environmentProblems(compose)).toEqual([]);
  });

  it('points every Troupe service at the nats service with JetStream, and publishes the port serve listens on', () => {
    expect(wiringProblems(compose)).toEqual([]);
  });
});

describe('the compose checks catch a broken file', () => {
  const broken = (edit: (c: Compose) => void): Compose => {
    const c = load(composeText);
    edit(c);
    return c;
  };

  it('an unknown subcommand, option or option value', () => {
    expect(commandProblems(broken((c) => (c.services.engine!.command = ['server'])), cli)).toHaveLength(1);
    expect(commandProblems(broken((c) => (c.services['worker-1']!.command = ['worker', '--label', 'a=b'])), cli)[0]).toMatch(/no option --label/);
    expect(commandProblems(broken((c) => (c.services['worker-1']!.command = 'worker --threads zero')), cli)[0]).toMatch(/QUEUE_WORKER_COUNT/);
    expect(commandProblems(broken((c) => (c.services.engine!.command = ['serve', '--no-worker'])), cli)).toHaveLength(1);
  });

  it('an unknown variable or a bad value', () => {
    expect(environmentProblems(broken((c) => ((c.services.engine!.environment as Record<string, string>).NATS_SERVER = 'x')))[0]).toMatch(/NATS_SERVER is not/);
    expect(environmentProblems(broken((c) => ((c.services['worker-1']!.environment as Record<string, string>).QUEUE_WORKER_COUNT = 'all')))[0]).toMatch(/QUEUE_WORKER_COUNT/);
  });

  it('a NATS_URL, port or dependency that does not match', () => {
    expect(wiringProblems(broken((c) => ((c.services['worker-2']!.environment as Record<string, string>).NATS_URL = 'nats://localhost:4222')))).toHaveLength(1);
    expect(wiringProblems(broken((c) => (c.services.nats!.command = ['-js', '-p', '4333'])))).toHaveLength(3);
    expect(wiringProblems(broken((c) => (c.services.nats!.command = ['-sd', '/data'])))[0]).toMatch(/JetStream/);
    expect(wiringProblems(broken((c) => (c.services.engine!.ports = ['8080:9090'])))[0]).toMatch(/PORT 8080/);
    expect(wiringProblems(broken((c) => (c.services['worker-1']!.depends_on = {})))[0]).toMatch(/depend/);
  });
});
