/** Every topic the agent answers, and the types derived from the list. */
import type { Static } from 'typebox';
import type { ResultOf } from './base.js';
import { createNewRuntime } from './create_new_runtime.js';
import { deleteDevice } from './delete_device.js';
import { deleteOrchestrator } from './delete_orchestrator.js';
import { getConsumptionDevice } from './get_consumption_device.js';
import { getConsumptionOrchestrator } from './get_consumption_orchestrator.js';
import { getDeviceStatus } from './get_device_status.js';
import { getHostInterfaces } from './get_host_interfaces.js';
import { getOrchestratorVersion } from './get_orchestrator_version.js';
import { getSerialDevices } from './get_serial_devices.js';
import { listDevices } from './list_devices.js';
import { restartDevice } from './restart_device.js';
import { runCommand } from './run_command.js';
import { startDevice } from './start_device.js';
import { stopDevice } from './stop_device.js';
import { webrtcDisconnect } from './webrtc_disconnect.js';
import { webrtcIce } from './webrtc_ice.js';
import { webrtcOffer } from './webrtc_offer.js';
import { upgradeOrchestrator } from './upgrade_orchestrator.js';

export * from './base.js';
export * from './create_new_runtime.js';
export * from './delete_device.js';
export * from './delete_orchestrator.js';
export * from './get_consumption_device.js';
export * from './get_consumption_orchestrator.js';
export * from './get_device_status.js';
export * from './get_host_interfaces.js';
export * from './get_orchestrator_version.js';
export * from './get_serial_devices.js';
export { isPythonIsoDateTime } from './iso-datetime.js';
export * from './list_devices.js';
export * from './restart_device.js';
export * from './run_command.js';
export * from './start_device.js';
export * from './stop_device.js';
export * from './webrtc_disconnect.js';
export * from './webrtc_ice.js';
export * from './webrtc_offer.js';
export * from './upgrade_orchestrator.js';

export const allTopics = [
  createNewRuntime,
  deleteDevice,
  deleteOrchestrator,
  runCommand,
  getConsumptionDevice,
  getConsumptionOrchestrator,
  getDeviceStatus,
  getHostInterfaces,
  getOrchestratorVersion,
  getSerialDevices,
  listDevices,
  startDevice,
  stopDevice,
  restartDevice,
  webrtcOffer,
  webrtcIce,
  webrtcDisconnect,
  upgradeOrchestrator,
] as const;

export type AnyTopic = (typeof allTopics)[number];
export type TopicName = AnyTopic['name'];
/** Topic name -> validated request type. */
export type TopicRequests = { [T in AnyTopic as T['name']]: Static<T['request']> };
/** Topic name -> what its handler returns (the reply without the router's envelope). */
export type TopicResults = { [T in AnyTopic as T['name']]: ResultOf<T> };

const byName = new Map<string, AnyTopic>(allTopics.map((topic) => [topic.name, topic]));

export function isTopicName(name: string): name is TopicName {
  return byName.has(name);
}

/** The definition of a topic, or undefined when the agent does not handle it. */
export function findTopic<Name extends TopicName>(name: Name): Extract<AnyTopic, { name: Name }>;
export function findTopic(name: string): AnyTopic | undefined;
export function findTopic(name: string): AnyTopic | undefined {
  return byName.get(name);
}
