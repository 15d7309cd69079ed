/** `create_new_runtime`: create a vPLC; the reply says the work started, progress is polled. */
import Type, { type Static } from 'typebox';
import {
  BASE_MESSAGE_FIELDS,
  defineTopic,
  type ErrorResult,
  InterfaceName,
  NonEmptyString,
  Opt,
  type Reply,
} from './base.js';

/** One vNIC as the cloud asks for it. Keys in the old agent's checking order. */
export const RequestedVnic = Type.Object(
  {
    name: Type.String({ description: 'vNIC name (used in network, DHCP and file records).' }),
    parent_interface: Type.String({ description: 'Host interface the MACVLAN network sits on.' }),
    network_mode: Type.String({ description: '"static" (fixed ip) or "dhcp" (lease through the sidecar).' }),
    ip: Opt(Type.String({ description: 'Static IP (a /prefix suffix is dropped); used when network_mode is static.' })),
    subnet: Opt(Type.String({ description: "Parent network's subnet: CIDR or dotted netmask." })),
    gateway: Opt(Type.String({ description: "Parent network's gateway." })),
    dns: Opt(Type.Array(Type.String(), { description: 'DNS servers, merged into the container DNS list.' })),
    mac: Opt(Type.String({ description: 'Requested MAC address; generated when absent.' })),
  },
  { description: 'One virtual NIC: a MACVLAN endpoint on a host interface. Unknown keys are kept verbatim.' },
);
export type RequestedVnic = Static<typeof RequestedVnic>;

/** One serial device passed into the runtime. */
export const RequestedSerial = Type.Object(
  {
    name: Type.String({ description: 'Port name, e.g. modbus_rtu.' }),
    device_id: Type.String({ description: 'A /dev/serial/by-id/... path or its basename.' }),
    container_path: Type.String({ description: 'Device node path inside the runtime, e.g. /dev/modbus0.' }),
    baud_rate: Opt(Type.Number({ description: 'Informational.' })),
  },
  { description: 'One serial device passed through into the runtime.' },
);
export type RequestedSerial = Static<typeof RequestedSerial>;

export const CreateNewRuntimeRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    container_name: NonEmptyString({ description: 'Runtime container name; also its device id.' }),
    vnic_configs: Type.Array(RequestedVnic, { description: 'At least one vNIC.' }),
    serial_configs: Opt(Type.Array(RequestedSerial)),
    runtime_version: Opt(
      Type.String({
        description:
          'Tag of the runtime image (the repository of --runtime-image, by default ghcr.io/autonomy-logic/openplc-runtime); absent, null or "" means the tag of --runtime-image (latest).',
      }),
    ),
    dedicated_interface: Opt(
      Type.String({
        ...InterfaceName,
        description:
          'A host Ethernet port moved into the runtime for its exclusive use (raw access: EtherCAT, PROFINET), given back to the host when the vPLC stops or is deleted. Not a WiFi interface, not a vNIC parent, not dedicated to another vPLC.',
      }),
    ),
  },
  { description: 'Create a vPLC (OpenPLC runtime container) with its networks and serial devices.' },
);
export type CreateNewRuntimeRequest = Static<typeof CreateNewRuntimeRequest>;

export type CreateNewRuntimeResult =
  | {
      status: 'creating';
      container_id: string;
      message: string;
      /** Present only when serial ports were asked for: then their number (the newest old agent's rule). */
      serial_configs_count?: number;
    }
  | ErrorResult;
export type CreateNewRuntimeReply = Reply<'create_new_runtime', CreateNewRuntimeResult>;

export const createNewRuntime = defineTopic<CreateNewRuntimeResult>()({
  name: 'create_new_runtime',
  request: CreateNewRuntimeRequest,
  mutating: true,
  reply: 'ack',
});
