import type { MqttTopics } from './topics.js';

/**
 * Home Assistant MQTT discovery (docs/api.md, "Home Assistant discovery"): one retained config per
 * entity under `<discovery prefix>/<component>/<node_id>/<object_id>/config`. Each camera is a device
 * reached through the Vigil node's device (`via_device`); an empty retained payload removes a config.
 */
export interface DiscoveryConfig {
  topic: string;
  /** The config as JSON, or '' to remove the entity. */
  payload: string;
}

export interface DiscoveryCamera {
  id: string;
  name: string;
}

type EntityConfig = Record<string, unknown>;

/**
 * One entity every camera has. A camera's entities are exactly this list: a new per-camera state is
 * one more entry, and its config, removal and republishing follow with no other change.
 */
interface CameraEntity {
  component: 'binary_sensor' | 'sensor' | 'camera';
  /** The object id is `<camera id>_<key>`; the unique id `<node id>_<camera id>_<key>`. */
  key: string;
  name: string;
  config(t: MqttTopics, cameraId: string): EntityConfig;
}

const CAMERA_ENTITIES: readonly CameraEntity[] = [
  {
    component: 'binary_sensor',
    key: 'online',
    name: 'Online',
    config: (t, id) => ({
      state_topic: t.camera(id, 'online'),
      payload_on: 'ON',
      payload_off: 'OFF',
      device_class: 'connectivity',
      // The whole state (recorder state, last error, counters) as the entity's attributes.
      json_attributes_topic: t.camera(id, 'state'),
    }),
  },
  {
    component: 'binary_sensor',
    key: 'motion',
    name: 'Motion',
    // OFF for a camera without motion detection (docs/api.md, "MQTT").
    config: (t, id) => ({ state_topic: t.camera(id, 'motion'), payload_on: 'ON', payload_off: 'OFF', device_class: 'motion' }),
  },
  {
    component: 'sensor',
    key: 'bitrate',
    name: 'Bitrate',
    config: (t, id) => ({
      state_topic: t.camera(id, 'state'),
      // null (nothing measured yet) renders as None, which Home Assistant shows as unknown.
      value_template: '{{ value_json.bitrate_kbps }}',
      unit_of_measurement: 'kbit/s',
      device_class: 'data_rate',
      state_class: 'measurement',
      entity_category: 'diagnostic',
    }),
  },
  {
    component: 'sensor',
    key: 'last_segment_age',
    name: 'Last segment age',
    config: (t, id) => ({
      state_topic: t.camera(id, 'state'),
      value_template: '{{ value_json.last_segment_age_seconds }}',
      unit_of_measurement: 's',
      device_class: 'duration',
      state_class: 'measurement',
      entity_category: 'diagnostic',
    }),
  },
  {
    component: 'camera',
    key: 'snapshot',
    name: 'Snapshot',
    // Raw JPEG bytes on the retained snapshot topic.
    config: (t, id) => ({ topic: t.camera(id, 'snapshot') }),
  },
];

/** The object id of the Vigil node's own entity; no camera's (`<id>_<key>`) can be it. */
const NODE_OBJECT_ID = 'status';

export class Discovery {
  constructor(
    private readonly t: MqttTopics,
    private readonly vigilVersion: string,
  ) {}

  /** The Vigil node itself: a device (the cameras' `via_device`) with a running/stopped sensor. */
  node(): DiscoveryConfig {
    const config = {
      name: 'Running',
      unique_id: `${this.t.nodeId}_${NODE_OBJECT_ID}`,
      state_topic: this.t.availability,
      payload_on: 'online',
      payload_off: 'offline',
      device_class: 'running',
      // No availability on purpose: when Vigil is gone this entity says so (off) instead of going unavailable.
      device: { identifiers: [this.t.nodeId], name: this.t.prefix === 'vigil' ? 'Vigil' : `Vigil (${this.t.prefix})`, manufacturer: 'Vigil', model: 'Vigil NVR', sw_version: this.vigilVersion },
      origin: this.origin(),
    };
    return { topic: this.t.discoveryConfig('binary_sensor', NODE_OBJECT_ID), payload: JSON.stringify(config) };
  }

  camera(cam: DiscoveryCamera): DiscoveryConfig[] {
    const device = {
      identifiers: [`${this.t.nodeId}_${cam.id}`],
      name: cam.name,
      manufacturer: 'Vigil',
      model: 'Camera',
      sw_version: this.vigilVersion,
      via_device: this.t.nodeId,
    };
    return CAMERA_ENTITIES.map((e) => ({
      topic: this.t.discoveryConfig(e.component, `${cam.id}_${e.key}`),
      payload: JSON.stringify({
        name: e.name,
        unique_id: `${this.t.nodeId}_${cam.id}_${e.key}`,
        ...e.config(this.t, cam.id),
        availability: [{ topic: this.t.availability, payload_available: 'online', payload_not_available: 'offline' }],
        device,
        origin: this.origin(),
      }),
    }));
  }

  /** Empty retained payloads: Home Assistant removes the camera's entities (and its device with the last one). */
  removeCamera(cameraId: string): DiscoveryConfig[] {
    return CAMERA_ENTITIES.map((e) => ({ topic: this.t.discoveryConfig(e.component, `${cameraId}_${e.key}`), payload: '' }));
  }

  private origin() {
    return { name: 'Vigil', sw_version: this.vigilVersion };
  }
}
