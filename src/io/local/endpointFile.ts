import { readFile, rm } from 'node:fs/promises';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { writeFileAtomic } from '../store/atomicFile.js';

/**
 * `<data-dir>/local/endpoint.json`: how ctl finds the running agent's local endpoint without flags — its URL and
 * the files of ctl's certificate. It holds paths, never key material. Written when the endpoint listens, removed
 * when it stops; a file left by a killed agent names a port nothing answers on, which ctl reports as such.
 */

export const EndpointFileSchema = Type.Object({
  url: Type.String(),
  pid: Type.Integer(),
  agent_id: Type.String(),
  ca_file: Type.String(),
  cert_file: Type.String(),
  key_file: Type.String(),
  docker_host: Type.String(),
  started_at: Type.String(),
});
export type EndpointFile = Static<typeof EndpointFileSchema>;
const Check = Compile(EndpointFileSchema);

export async function writeEndpointFile(path: string, content: EndpointFile): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
}

export async function removeEndpointFile(path: string): Promise<void> {
  await rm(path, { force: true });
}

export class EndpointFileProblem extends Error {
  override readonly name = 'EndpointFileProblem';
}

/** Reads the file; throws `EndpointFileProblem` with a sentence saying what to do when it is missing or damaged. */
export async function readEndpointFile(path: string): Promise<EndpointFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EndpointFileProblem(
        `No local agent found: ${path} does not exist. Start the agent in local mode (npm start), ` +
          'or give --data-dir the folder it runs with.',
      );
    }
    throw new EndpointFileProblem(`Cannot read ${path} (${code ?? 'unreadable'}): run ctl as the agent's user.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!Check.Check(value)) {
    throw new EndpointFileProblem(`${path} is damaged; restart the agent in local mode to write it again.`);
  }
  return value;
}
