/**
 * `npm run image:assemble`: builds the container image's file set without a Docker engine, by
 * interpreting the Dockerfile against a build context filtered by .dockerignore (./dockerignore.ts):
 *
 *   node --import tsx infra/image/assemble.ts [--out dist/image]
 *
 * Stages become directories (<out>/stages/<name>/ = that stage's filesystem root); COPY copies from the
 * filtered context or `--from` a stage; WORKDIR/ENV/USER/EXPOSE/ENTRYPOINT/CMD are recorded; RUN is
 * executed for the commands that make files the image contains (`npm ci`, `npm run build`, `mkdir -p`) and skipped,
 * by name, for those that only touch the base image (apt-get, chown, `npm cache clean`). An unknown
 * RUN command, a shell-form ENTRYPOINT/CMD or an unknown instruction fails the run: teach it here
 * rather than let CI check a different image. The final stage's root is <out>/rootfs and its
 * configuration <out>/image.json; test/infra/image.deploy.test.ts starts the adapter from it.
 *
 * Like Docker's layer cache, a RUN `npm ci` result is reused when the files it sees (the stage so far),
 * the command, Node.js and the platform are the same: $MESH_APIM_CACHE/image-layers/<sha256>.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DockerIgnore, parseDockerIgnore } from './dockerignore.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ImageConfig {
  base: string;
  workdir: string;
  env: Record<string, string>;
  user: string;
  expose: string[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[];
  /** RUN commands not reproduced (they only change the base image), for the record. */
  skipped: string[];
}

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile lines -> instructions: comments/directives dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let cur = '';
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    cur += line;
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(cur);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    else if (cur.trim()) throw new Error(`Dockerfile: cannot parse "${cur.trim()}"`);
    cur = '';
  }
  return out;
}

/** `KEY=value KEY2="v w"` (the ENV/ARG key=value form). */
function parseAssignments(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let consumed = '';
  for (const m of s.matchAll(re)) {
    out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    consumed += m[0];
  }
  if (!consumed && s.trim()) throw new Error(`Dockerfile: only the KEY=value form is supported: "${s}"`);
  return out;
}

function jsonForm(op: string, args: string): string[] {
  try {
    const v = JSON.parse(args) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {}
  throw new Error(`Dockerfile: ${op} must use the exec (JSON array) form: ${args}`);
}

/** Files of the build context that COPY sees (relative, forward slashes). */
export function contextFiles(root: string, ignore: DockerIgnore): string[] {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(root, r));
      if (st.isDirectory()) {
        // Docker skips an excluded directory unless a `!` pattern might re-include something in it.
        if (ignore.excludes(r) && !ignore.hasExceptions) continue;
        walk(r);
      } else if (!ignore.excludes(r)) files.push(r);
    }
  };
  walk('');
  return files;
}

function copyEntry(from: string, to: string): void {
  mkdirSync(path.dirname(to), { recursive: true });
  const st = lstatSync(from);
  if (st.isSymbolicLink()) {
    rmSync(to, { force: true });
    symlinkSync(readlinkSync(from), to);
  } else if (st.isDirectory()) cpSync(from, to, { recursive: true, verbatimSymlinks: true });
  else cpSync(from, to);
}

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = lstatSync(path.join(dir, r));
      h.update(`${r}\0${st.isDirectory() ? 'd' : 'f'}\0`);
      if (st.isDirectory()) walk(r);
      else if (st.isSymbolicLink()) h.update(readlinkSync(path.join(dir, r)));
      else h.update(readFileSync(path.join(dir, r)));
    }
  };
  if (existsSync(dir)) walk('');
  return h.digest('hex');
}

export interface AssembleOptions {
  context?: string;
  out: string;
  cacheDir?: string;
  log?: (line: string) => void;
}

export function assemble(opts: AssembleOptions): ImageConfig {
  const context = opts.context ?? repoRoot;
  const log = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cacheDir =
    opts.cacheDir ??
    path.join(process.env.MESH_APIM_CACHE ?? path.join(homedir(), '.cache/mesh-apim'), 'image-layers');
  const ignoreFile = path.join(context, '.dockerignore');
  const ignore = parseDockerIgnore(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');
  const files = contextFiles(context, ignore);
  rmSync(opts.out, { recursive: true, force: true });
  const stagesDir = path.join(opts.out, 'stages');

  const args: Record<string, string> = {};
  const subst = (s: string) =>
    s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args[a ?? b] ?? env[a ?? b] ?? '');
  const stageNames: string[] = [];
  const stageConfigs = new Map<string, ImageConfig>();
  let root = '';
  let env: Record<string, string> = {};
  let config: ImageConfig | null = null;
  const skipped: string[] = [];
  const inRoot = (p: string, workdir: string) => path.join(root, path.posix.resolve(workdir, p));

  for (const { op, args: raw } of parseDockerfile(readFileSync(path.join(context, 'Dockerfile'), 'utf8'))) {
    const a = op === 'RUN' ? raw : subst(raw);
    if (op === 'ARG') {
      const [k, v] = a.split('=', 2);
      if (!(k! in args)) args[k!] = v ?? '';
      continue;
    }
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(a);
      if (!m) throw new Error(`Dockerfile: FROM ${a}`);
      const name = m[2] ?? String(stageNames.length);
      stageNames.push(name);
      root = path.join(stagesDir, name);
      mkdirSync(root, { recursive: true });
      const parent = stageConfigs.get(m[1]!);
      if (parent) cpSync(path.join(stagesDir, m[1]!), root, { recursive: true, verbatimSymlinks: true });
      // A stage built FROM another inherits its configuration (WORKDIR, ENV, USER, ...), as in Docker.
      config = parent
        ? { ...structuredClone({ ...parent, skipped: [] }), skipped }
        : {
            base: m[1]!,
            workdir: '/',
            env: {},
            user: 'root',
            expose: [],
            entrypoint: [],
            cmd: [],
            healthcheck: [],
            skipped,
          };
      env = config.env;
      stageConfigs.set(name, config);
      continue;
    }
    if (!config) throw new Error(`Dockerfile: ${op} before FROM`);
    switch (op) {
      case 'WORKDIR':
        config.workdir = path.posix.resolve(config.workdir, a);
        mkdirSync(inRoot('.', config.workdir), { recursive: true });
        break;
      case 'ENV':
        Object.assign(env, parseAssignments(a));
        break;
      case 'USER':
        config.user = a;
        break;
      case 'EXPOSE':
        config.expose.push(...a.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        config.entrypoint = jsonForm(op, a);
        config.cmd = [];
        break;
      case 'CMD':
        config.cmd = jsonForm(op, a);
        break;
      case 'HEALTHCHECK':
        config.healthcheck = jsonForm(op, a.replace(/^(--\S+\s+)*CMD\s+/, ''));
        break;
      case 'COPY': {
        const words = a.split(/\s+/);
        let from: string | null = null;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
          else if (!flag.startsWith('--chown=') && !flag.startsWith('--chmod=')) {
            throw new Error(`Dockerfile: COPY ${flag} is not supported by the assembler`);
          }
        }
        const dest = words.pop()!;
        const destDir = dest.endsWith('/') || words.length > 1 || dest === '.';
        for (const src of words) {
          if (from) {
            if (!stageNames.includes(from)) throw new Error(`Dockerfile: COPY --from=${from}: no such stage`);
            const s = path.join(stagesDir, from, path.posix.resolve('/', src));
            if (!existsSync(s)) throw new Error(`Dockerfile: COPY --from=${from} ${src}: not found`);
            const target = inRoot(
              destDir ? path.posix.join(dest, path.posix.basename(src)) : dest,
              config.workdir,
            );
            copyEntry(s, target);
            continue;
          }
          // From the context: a directory's contents (never the directory itself), or one file.
          const prefix = path.posix.normalize(src).replace(/\/$/, '');
          const picked =
            prefix === '.' ? files : files.filter((f) => f === prefix || f.startsWith(`${prefix}/`));
          if (!picked.length) throw new Error(`Dockerfile: COPY ${src}: not in the build context`);
          for (const f of picked) {
            const rel =
              f === prefix
                ? destDir
                  ? path.posix.basename(f)
                  : ''
                : f.slice(prefix === '.' ? 0 : prefix.length + 1);
            copyEntry(path.join(context, f), inRoot(path.posix.join(dest, rel), config.workdir));
          }
        }
        break;
      }
      case 'RUN':
        for (const cmd of a.split('&&').map((c) => c.trim())) runCommand(cmd, config, root, cacheDir, log);
        break;
      case 'LABEL':
      case 'STOPSIGNAL':
        break;
      default:
        throw new Error(`Dockerfile: ${op} is not supported by the assembler`);
    }
  }
  if (!config) throw new Error('Dockerfile: no FROM');
  renameSync(root, path.join(opts.out, 'rootfs'));
  writeFileSync(path.join(opts.out, 'image.json'), `${JSON.stringify(config, null, 2)}\n`);
  log(
    `image file set: ${path.join(opts.out, 'rootfs')} (${files.length} context files; ${config.skipped.length} RUN commands skipped: ${config.skipped.join('; ')})`,
  );
  return config;
}

function runCommand(
  cmd: string,
  config: ImageConfig,
  root: string,
  cacheDir: string,
  log: (l: string) => void,
) {
  const words = cmd.split(/\s+/);
  const cwd = path.join(root, config.workdir);
  if (words[0] === 'npm' && words[1] === 'ci') {
    // Same command, from the local npm cache first (CI's `npm ci` has just filled it).
    const key = createHash('sha256')
      .update(`${cmd}\0${process.version}\0${process.platform}-${process.arch}\0${treeHash(root)}`)
      .digest('hex');
    const cached = path.join(cacheDir, key);
    if (existsSync(path.join(cached, '.done'))) {
      log(`RUN ${cmd}: cached layer ${key.slice(0, 12)}`);
    } else {
      log(`RUN ${cmd} (--prefer-offline)`);
      const r = spawnSync('npm', [...words.slice(1), '--prefer-offline'], { cwd, stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`RUN ${cmd}: exit ${r.status}`);
      rmSync(cached, { recursive: true, force: true });
      cpSync(root, cached, { recursive: true, verbatimSymlinks: true });
      writeFileSync(path.join(cached, '.done'), '');
      return;
    }
    rmSync(root, { recursive: true, force: true });
    cpSync(cached, root, { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(root, '.done'));
    return;
  }
  if (cmd === 'npm run build') {
    // The build stage's compile (infra/image/bundle.ts), with the stage's own node_modules.
    log(`RUN ${cmd}`);
    const r = spawnSync('npm', ['run', 'build'], { cwd, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`RUN ${cmd}: exit ${r.status}`);
    return;
  }
  if (words[0] === 'mkdir' && words[1] === '-p') {
    for (const d of words.slice(2))
      mkdirSync(path.join(root, path.posix.resolve(config.workdir, d)), { recursive: true });
    return;
  }
  // Base-image and ownership changes: nothing the image's own files depend on.
  if (
    ['apt-get', 'chown', 'chmod'].includes(words[0]!) ||
    (words[0] === 'rm' && /^\/var\/lib\/apt/.test(words.at(-1)!)) ||
    cmd.startsWith('npm cache clean')
  ) {
    config.skipped.push(cmd);
    return;
  }
  throw new Error(`Dockerfile: RUN "${cmd}" is not known to the assembler (infra/image/assemble.ts)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: path.join(repoRoot, 'dist/image') } },
  });
  assemble({ out: path.resolve(values.out!) });
}
