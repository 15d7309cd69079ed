/** `get_host_interfaces`: the host's network interfaces as the sidecar reports them. */
import Type, { type Static } from 'typebox';
import { BASE_MESSAGE_FIELDS, defineTopic, type ErrorResult, Opt, type Reply } from './base.js';

export const GetHostInterfacesRequest = Type.Object(
  {
    ...BASE_MESSAGE_FIELDS,
    include_virtual: Opt(Type.Boolean({ description: 'Also list docker, bridge, veth... interfaces. Default false.' })),
    detailed: Opt(Type.Boolean({ description: 'Add subnet and gateway. Default true; null counts as false.' })),
  },
  { description: 'The host interfaces a vNIC can use as its parent.' },
);
export type GetHostInterfacesRequest = Static<typeof GetHostInterfacesRequest>;

export type HostInterfaceReport = {
  name: string;
  ip_address: string | null;
  ipv4_addresses: string[];
  mac_address: string | null;
  /** Present when `detailed`. */
  subnet?: string | null;
  /** Present when `detailed`. */
  gateway?: string | null;
  /** The vPLC this interface is dedicated to (dedicated_nics.json). */
  dedicated_to?: string;
  /** Present (true) for an Ethernet interface without IPv4: fit only to be dedicated to a vPLC. */
  dedicated_only?: true;
};

export type GetHostInterfacesResult = { status: 'success'; interfaces: HostInterfaceReport[] } | ErrorResult;
export type GetHostInterfacesReply = Reply<'get_host_interfaces', GetHostInterfacesResult>;

export const getHostInterfaces = defineTopic<GetHostInterfacesResult>()({
  name: 'get_host_interfaces',
  request: GetHostInterfacesRequest,
  mutating: false,
  reply: 'ack',
});
