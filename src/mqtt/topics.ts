import { nodeIdOf, type MqttConfig } from '../config/mqtt-config.js';

/** The per-camera topics whose retained messages say a camera exists (cleared when it is deleted). */
export const CAMERA_RETAINED = ['state', 'online', 'motion', 'snapshot'] as const;
export type CameraTopic = (typeof CAMERA_RETAINED)[number];

/** A topic level from a name that may hold anything (an event type): wildcards and `/` become `_`. */
function level(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

/**
 * Every topic Vigil publishes or listens to, built in one place (docs/api.md, "MQTT"). Camera ids are
 * slugs (a-z, 0-9, `_`, `-`), so they are topic levels and Home Assistant object ids as they are.
 */
export class MqttTopics {
  readonly prefix: string;
  readonly discoveryPrefix: string;
  /** Home Assistant's node id of this Vigil, and the identifier of its device. */
  readonly nodeId: string;

  constructor(config: Pick<MqttConfig, 'topicPrefix' | 'discovery'>) {
    this.prefix = config.topicPrefix;
    this.discoveryPrefix = config.discovery.prefix;
    this.nodeId = nodeIdOf(config.topicPrefix);
  }

  /** `online` / `offline`, retained; the broker publishes `offline` as Vigil's last will. */
  get availability(): string {
    return `${this.prefix}/availability`;
  }

  camera(cameraId: string, what: CameraTopic): string {
    return `${this.prefix}/cameras/${cameraId}/${what}`;
  }

  /** Any message here asks for a fresh snapshot of the camera. */
  get snapshotRequests(): string {
    return `${this.prefix}/cameras/+/snapshot/request`;
  }

  /** Retained camera states, to find cameras deleted while Vigil was away from the broker. */
  get cameraStates(): string {
    return `${this.prefix}/cameras/+/state`;
  }

  /** The camera id of a snapshot request or state topic, or undefined for any other topic. */
  cameraOf(topic: string, what: 'snapshot/request' | 'state'): string | undefined {
    const head = `${this.prefix}/cameras/`;
    const tail = `/${what}`;
    if (!topic.startsWith(head) || !topic.endsWith(tail)) return undefined;
    const id = topic.slice(head.length, topic.length - tail.length);
    return /^[a-z0-9][a-z0-9_-]*$/.test(id) ? id : undefined;
  }

  event(type: string): string {
    return `${this.prefix}/events/${level(type)}`;
  }

  /** `<discovery prefix>/<component>/<node_id>/<object_id>/config` */
  discoveryConfig(component: string, objectId: string): string {
    return `${this.discoveryPrefix}/${component}/${this.nodeId}/${objectId}/config`;
  }

  /** Every discovery config of this node (retained ones tell which a past run left behind). */
  get discoveryConfigs(): string {
    return `${this.discoveryPrefix}/+/${this.nodeId}/+/config`;
  }

  /** Home Assistant's birth and last-will topic: `online` asks for every config again. */
  get discoveryStatus(): string {
    return `${this.discoveryPrefix}/status`;
  }
}
