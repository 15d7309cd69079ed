import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Handler replies are typed from their topic file: the compiler must reject a reply with a misspelled key, a
 * missing key or a status word the topic does not have. The fixture marks each line that must fail.
 */
const fixture = fileURLToPath(new URL('./fixtures/misspelled-reply.ts', import.meta.url));
const tsconfig = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));

function diagnosticLines(): number[] {
  const config = ts.readConfigFile(tsconfig, (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, fileURLToPath(new URL('../..', import.meta.url)));
  const program = ts.createProgram([fixture], { ...parsed.options, noEmit: true });
  const source = program.getSourceFile(fixture)!;
  return ts
    .getPreEmitDiagnostics(program, source)
    .filter((d) => d.file?.fileName === source.fileName && d.start !== undefined)
    .map((d) => source.getLineAndCharacterOfPosition(d.start!).line + 1);
}

describe('topic reply types', () => {
  it('rejects a misspelled key, a missing key and an unknown status word in handler replies', () => {
    const text = ts.sys.readFile(fixture)!.split('\n');
    const expected = text.flatMap((line, i) => (line.includes('EXPECT-ERROR') ? [i + 2] : []));
    expect(expected).toHaveLength(3);
    const found = new Set(diagnosticLines());
    expect(expected.filter((line) => !found.has(line))).toEqual([]);
  }, 60_000);
});
