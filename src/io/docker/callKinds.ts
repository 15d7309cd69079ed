/**
 * The kind of a Docker call, for metrics: one of a fixed set, whatever container or network it names, so a label
 * never holds a name from outside. The engine describes each call in words for its error sentences
 * ("inspect container plc1"); the first words say the kind.
 */
const KINDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^read the engine version/, 'version'],
  [/^inspect image /, 'image.inspect'],
  [/^pull /, 'image.pull'],
  [/^list networks named /, 'network.list'],
  [/^list (\S+ )?networks/, 'network.list'],
  [/^inspect network /, 'network.inspect'],
  [/^create network /, 'network.create'],
  [/^remove network /, 'network.remove'],
  [/^connect .* to network /, 'network.connect'],
  [/^disconnect .* from network /, 'network.disconnect'],
  [/^list containers/, 'container.list'],
  [/^create container /, 'container.create'],
  [/^start container /, 'container.start'],
  [/^stop container /, 'container.stop'],
  [/^remove container /, 'container.remove'],
  [/^inspect container /, 'container.inspect'],
  [/^update the restart policy of container /, 'container.update'],
  [/^read stats of container /, 'container.stats'],
  [/^stop a command in container /, 'container.exec_kill'],
  [/^run .* in container /, 'container.exec'],
  [/^remove volume /, 'volume.remove'],
];

export const DOCKER_CALL_KINDS: readonly string[] = [...new Set(KINDS.map(([, kind]) => kind)), 'other'];

export function dockerCallKind(action: string): string {
  for (const [pattern, kind] of KINDS) if (pattern.test(action)) return kind;
  return 'other';
}
