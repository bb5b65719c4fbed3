/**
 * Static checks of the consumer image's Dockerfile (Docker is not available where the tests
 * run): what a broken image would get wrong first, before anyone notices in production.
 */
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

interface Instruction {
  keyword: string;
  args: string;
  /** The build stage (0-based) the instruction belongs to. */
  stage: number;
}

/** Instructions with line continuations joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(full) ?? [];
    if (keyword.toUpperCase() === 'FROM') stage++;
    out.push({ keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' '), stage });
  }
  return out;
}

const dockerfile = parseDockerfile(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
const finalStage = Math.max(...dockerfile.map((i) => i.stage));
const final = dockerfile.filter((i) => i.stage === finalStage);
const last = (keyword: string) => final.filter((i) => i.keyword === keyword).at(-1);

describe('Dockerfile', () => {
  it('builds every stage on Debian 12 (bookworm) with Node 20', () => {
    const froms = dockerfile.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f.args).toMatch(/^node:20(\.[\d.]+)?-bookworm(-slim)?(@sha256:[a-f0-9]{64})?( AS \S+)?$/i);
  });

  it('installs ffmpeg, the three Noto font packages and CA certificates in the runtime image, without recommends, and drops the apt lists', () => {
    const installs = final.filter((i) => i.keyword === 'RUN' && /apt-get install/.test(i.args));
    expect(installs).toHaveLength(1);
    const run = installs[0]!.args;
    const packages = run.split(/\s+/);
    for (const pkg of ['ffmpeg', 'fonts-noto-core', 'fonts-noto-cjk', 'fonts-noto-color-emoji', 'ca-certificates']) expect(packages).toContain(pkg);
    expect(run).toContain('--no-install-recommends');
    expect(run).toMatch(/apt-get update/);
    expect(run).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
  });

  it('installs production dependencies only, from the lockfile', () => {
    const npmRuns = dockerfile.filter((i) => i.keyword === 'RUN' && /\bnpm\b/.test(i.args));
    expect(npmRuns.length).toBeGreaterThan(0);
    for (const r of npmRuns) {
      expect(r.args).not.toMatch(/\bnpm (install|i)\b/);
      if (/\bnpm ci\b/.test(r.args)) expect(r.args).toMatch(/--omit=dev/);
    }
    expect(npmRuns.some((r) => /\bnpm ci\b/.test(r.args))).toBe(true);
    expect(last('ENV')?.args).toMatch(/NODE_ENV=production/);
  });

  it('ships what the CLI needs at run time', () => {
    const copied = final.filter((i) => i.keyword === 'COPY').map((i) => i.args).join('\n');
    for (const p of ['bin/', 'src/', 'openapi.yaml', 'package.json', 'node_modules']) expect(copied).toContain(p);
    expect(final.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ')).toMatch(/DATA_DIR=\/tmp\/photoreel/);
  });

  it('runs as a non-root user', () => {
    const user = last('USER');
    expect(user).toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
    // Nothing after USER switches back to root.
    const userIndex = final.lastIndexOf(user!);
    expect(final.slice(userIndex + 1).filter((i) => i.keyword === 'USER')).toEqual([]);
  });

  it('starts `photoreel worker` by default, in exec form so SIGTERM reaches node', () => {
    expect(JSON.parse(last('ENTRYPOINT')!.args)).toEqual(['node', 'bin/photoreel.js']);
    expect(JSON.parse(last('CMD')!.args)).toEqual(['worker']);
    expect(last('STOPSIGNAL')?.args).toBe('SIGTERM');
  });

  it('keeps dependencies, VCS data, local state and the CDK output out of the build context', () => {
    const ignored = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const p of ['node_modules', '.git', 'data']) expect(ignored).toContain(p);
    expect(ignored.some((p) => p === 'infra' || p === 'infra/cdk.out')).toBe(true);
  });

  it('needs no devDependency at run time: every package src/ and bin/ import is a dependency', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const builtins = new Set(builtinModules);
    const imported = new Map<string, string>();
    for (const file of sourceFiles(['src', 'bin'])) {
      for (const spec of runtimeSpecifiers(fs.readFileSync(file, 'utf8'))) {
        if (spec.startsWith('.') || spec.startsWith('/') || spec.includes(':') || builtins.has(spec.split('/')[0]!)) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        imported.set(name, path.relative(ROOT, file));
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    const missing = [...imported].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });
});

function sourceFiles(dirs: string[]): string[] {
  return dirs.flatMap((d) =>
    (fs.readdirSync(path.join(ROOT, d), { recursive: true, withFileTypes: true }) as fs.Dirent[])
      .filter((e) => e.isFile() && /\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts'))
      .map((e) => path.join(e.parentPath, e.name)),
  );
}

/** Module specifiers that survive compilation: static imports and re-exports except `import type`, and dynamic imports. */
function runtimeSpecifiers(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";()=]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) if (!m[1]) out.push(m[2]!);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}
