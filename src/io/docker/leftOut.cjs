// Stands in for dockerode's optional transports in the bundled build (package.json "build", see
// docs/performance.md#the-agent-is-one-bundled-file): SSH engines (ssh2, with its native cpu-features) and BuildKit
// sessions (@grpc/grpc-js, @grpc/proto-loader). The agent reaches Docker over unix:// or tcp:// only and never builds
// images, so these are never called; loading them cost about 25 MB of resident memory. Should one be called anyway,
// it fails with a sentence instead of doing something half.
'use strict';
function leftOut(name) {
  return function unsupported() {
    throw new Error(
      `${String(name)} is not part of this build of orchestrator-agent: it talks to Docker over unix:// or tcp:// only (DOCKER_HOST), without SSH or BuildKit sessions.`,
    );
  };
}
module.exports = new Proxy(
  {},
  {
    get(_target, property) {
      // Interop probes of bundlers and of `require` itself are answered as for a plain CommonJS object.
      if (property === '__esModule' || property === 'default' || typeof property === 'symbol') return undefined;
      return leftOut(property);
    },
  },
);
