/**
 * The runtime description as the Docker adapter sees it. io/ may not import src/machines (one-way arrows), so this is
 * a structural twin of `VplcSpec` / `VnicConfig` / `SerialConfig` in `src/machines/vplc.spec.ts`; `src/actors/vplcOps.ts`
 * checks at compile time that the two stay assignable both ways.
 */

export interface RuntimeVnic {
  name: string;
  parent_interface: string;
  network_mode: string;
  ip?: string | null;
  subnet?: string | null;
  gateway?: string | null;
  dns?: string[] | null;
  mac?: string | null;
  readonly [extra: string]: unknown;
}

export interface RuntimeSerial {
  name: string;
  device_id: string;
  container_path: string;
  baud_rate?: number | null;
  readonly [extra: string]: unknown;
}

export interface RuntimeSpec {
  name: string;
  vnics: RuntimeVnic[];
  serials: RuntimeSerial[];
}

/** One ulimit as `--runtime-ulimits` gives it; -1 means unlimited. */
export interface RuntimeUlimit {
  name: string;
  soft: number;
  hard: number;
}
