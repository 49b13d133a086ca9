/**
 * No function in server/ is longer than 80 lines (issue 11). Parses every
 * server/**\/*.ts with the TypeScript compiler API and lists the functions,
 * methods, accessors, constructors and function/arrow expressions over the
 * limit, and asserts there are none: sources and tests alike (a long test
 * splits into named helpers that register or run its parts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { FunctionLikeDeclaration, Node, SourceFile } from 'typescript/unstable/ast';
import { isCallExpression, isConstructorDeclaration, isFunctionLikeDeclaration, isPropertyAssignment, isPropertyDeclaration, isVariableDeclaration } from 'typescript/unstable/ast/is';
import { API } from 'typescript/unstable/sync';

const MAX_LINES = 80;
const ROOT = path.resolve(import.meta.dirname, '..');

/** A function over the limit. */
interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(full);
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** A readable name: the declared one, else the variable, property or call the function is given to. */
function nameOf(node: FunctionLikeDeclaration, source: SourceFile): string {
  if ('name' in node && node.name) return node.name.getText(source);
  if (isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (isVariableDeclaration(parent) || isPropertyAssignment(parent) || isPropertyDeclaration(parent)) return parent.name.getText(source);
  if (isCallExpression(parent)) return `(callback of ${parent.expression.getText(source).slice(0, 40)})`;
  return '(anonymous)';
}

/** The 0-based line of UTF-16 offset `pos`. */
function lineOf(lineStarts: readonly number[], pos: number): number {
  let [lo, hi] = [0, lineStarts.length - 1];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (lineStarts[mid]! <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Every function-like node of `source` longer than {@link MAX_LINES} lines, counted from its first to its last line. */
function longFunctionsOf(source: SourceFile, rel: string): LongFunction[] {
  const starts = source.getLineStarts();
  const out: LongFunction[] = [];
  const visit = (node: Node): void => {
    if (isFunctionLikeDeclaration(node) && node.body) {
      const start = lineOf(starts, node.getStart(source));
      const lines = lineOf(starts, node.getEnd()) - start + 1;
      if (lines > MAX_LINES) out.push({ file: rel, line: start + 1, name: nameOf(node, source), lines });
    }
    node.forEachChild(visit);
  };
  visit(source);
  return out;
}

/**
 * The functions over the limit in `files`, parsed by the TypeScript compiler
 * (its API, over the project of `tsconfig`); names are relative to `root`.
 * @throws when a file is not part of the project
 */
export function longFunctions(tsconfig: string, files: string[], root: string): LongFunction[] {
  const api = new API({ cwd: path.dirname(tsconfig) });
  try {
    const program = api.updateSnapshot({ openProjects: [tsconfig] }).getProject(tsconfig)!.program;
    return files.flatMap((file) => {
      const source = program.getSourceFile(file);
      if (!source) throw new Error(`${file} is not part of the project of ${tsconfig}`);
      return longFunctionsOf(source, path.relative(root, file).split(path.sep).join('/'));
    });
  } finally {
    api.close();
  }
}

test('no function in server/, tests included, is longer than 80 lines', () => {
  const files = tsFiles(path.join(ROOT, 'server'));
  assert.ok(files.some((f) => f.endsWith('.int.test.ts')) && files.some((f) => f.endsWith('contract.ts')), 'the tests and contracts of server/ are checked');
  const format = (f: LongFunction) => `${f.file}:${f.line} ${f.name}: ${f.lines} lines`;
  assert.deepEqual(longFunctions(path.join(ROOT, 'tsconfig.json'), files, ROOT).map(format), []);
});

test('the length check finds a function over 80 lines and names it, counting lines after non-ASCII text right', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-fn-length-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { noEmit: true }, include: ['*.ts'] }));
  const file = path.join(dir, 'sample.ts');
  const body = Array.from({ length: 80 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  fs.writeFileSync(file, `// é ☃ 𝄞\nexport function short(): number {\n  return 1;\n}\nexport const long = () => {\n${body}\n};\nclass C {\n  m(): void {\n${body}\n  }\n}\n`);
  assert.deepEqual(
    longFunctions(path.join(dir, 'tsconfig.json'), [file], dir).map((f) => [f.file, f.name, f.line, f.lines]),
    [
      ['sample.ts', 'long', 5, 82],
      ['sample.ts', 'm', 88, 82],
    ],
  );
});
