/**
 * The upgrade's hand-over record, `<data-dir>/upgrade.json` (the shared volume): written by the upgrader
 * (src/cli/upgrader) into the volume of the agent it starts, read once by that agent at boot, which then reports
 * the outcome as `__orchestrator__` (docs/protocol.md#upgrade_orchestrator).
 *
 * - `pending`: written before the new agent starts. The new agent reading it is the new version, so the upgrade
 *   worked as soon as it answers the cloud: it reports `success`, step `upgraded`.
 * - `rolled_back`: the new agent did not connect in time; the upgrader put the previous container back and wrote
 *   why. The previous agent reports `error`, step `rolled_back`.
 */
export const UPGRADE_RECORD_FILE = 'upgrade.json';

export interface UpgradeRecord {
  outcome: 'pending' | 'rolled_back';
  /** The image the agent was upgraded to. */
  to_image: string;
  /** The image (id or name) of the agent before the upgrade. */
  from_image: string | null;
  started_at: string;
  finished_at: string | null;
  /** Why it was rolled back, as a sentence. */
  error: string | null;
}

export function parseUpgradeRecord(text: string): UpgradeRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v.length <= 4096 ? v : null);
  if (r.outcome !== 'pending' && r.outcome !== 'rolled_back') return null;
  const toImage = str(r.to_image);
  const startedAt = str(r.started_at);
  if (!toImage || !startedAt) return null;
  return {
    outcome: r.outcome,
    to_image: toImage,
    from_image: str(r.from_image),
    started_at: startedAt,
    finished_at: str(r.finished_at),
    error: str(r.error),
  };
}

/** The upgrader's container name, as the old agent named it. */
export const UPGRADER_CONTAINER = 'orchestrator_upgrader';
