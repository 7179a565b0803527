import { describe, expect, it } from 'vitest';
import { Discovery } from './discovery.js';
import { MqttTopics } from './topics.js';

const topics = new MqttTopics({ topicPrefix: 'site/nvr', discovery: { enabled: true, prefix: 'homeassistant' } });
const discovery = new Discovery(topics, '1.2.3');

describe('MQTT topics', () => {
  it('build every topic under the prefix, and Home Assistant\'s under its own with the node id', () => {
    expect(topics.nodeId).toBe('site_nvr');
    expect(topics.availability).toBe('site/nvr/availability');
    expect(topics.camera('cam-1', 'state')).toBe('site/nvr/cameras/cam-1/state');
    expect(topics.event('recorder_exited')).toBe('site/nvr/events/recorder_exited');
    expect(topics.discoveryConfig('sensor', 'cam-1_bitrate')).toBe('homeassistant/sensor/site_nvr/cam-1_bitrate/config');
    expect(topics.discoveryStatus).toBe('homeassistant/status');
  });

  it('an event type can never make a wildcard or another level', () => {
    expect(topics.event('a/b+#')).toBe('site/nvr/events/a_b__');
  });

  it('read the camera of a snapshot request or state topic, and nothing else', () => {
    expect(topics.cameraOf('site/nvr/cameras/cam-1/snapshot/request', 'snapshot/request')).toBe('cam-1');
    expect(topics.cameraOf('site/nvr/cameras/cam-1/state', 'state')).toBe('cam-1');
    expect(topics.cameraOf('site/nvr/cameras/cam-1/state', 'snapshot/request')).toBeUndefined();
    expect(topics.cameraOf('site/nvr/cameras/a/b/snapshot/request', 'snapshot/request')).toBeUndefined();
    expect(topics.cameraOf('other/cameras/cam-1/state', 'state')).toBeUndefined();
  });
});

describe('Home Assistant discovery', () => {
  it('gives each camera an online connectivity sensor, a motion sensor, bitrate and last segment age sensors and a camera, all on its device via the node', () => {
    const configs = discovery.camera({ id: 'cam-1', name: 'Gate' });
    expect(configs.map((c) => c.topic)).toEqual([
      'homeassistant/binary_sensor/site_nvr/cam-1_online/config',
      'homeassistant/binary_sensor/site_nvr/cam-1_motion/config',
      'homeassistant/sensor/site_nvr/cam-1_bitrate/config',
      'homeassistant/sensor/site_nvr/cam-1_last_segment_age/config',
      'homeassistant/camera/site_nvr/cam-1_snapshot/config',
    ]);
    const [online, motion, bitrate, age, camera] = configs.map((c) => JSON.parse(c.payload) as Record<string, unknown>);
    const device = { identifiers: ['site_nvr_cam-1'], name: 'Gate', manufacturer: 'Vigil', model: 'Camera', sw_version: '1.2.3', via_device: 'site_nvr' };
    const availability = [{ topic: 'site/nvr/availability', payload_available: 'online', payload_not_available: 'offline' }];
    for (const c of [online, motion, bitrate, age, camera]) expect(c).toMatchObject({ device, availability });
    expect(motion).toMatchObject({ unique_id: 'site_nvr_cam-1_motion', device_class: 'motion', state_topic: 'site/nvr/cameras/cam-1/motion', payload_on: 'ON', payload_off: 'OFF' });
    expect(online).toMatchObject({ unique_id: 'site_nvr_cam-1_online', device_class: 'connectivity', state_topic: 'site/nvr/cameras/cam-1/online', payload_on: 'ON', payload_off: 'OFF' });
    expect(bitrate).toMatchObject({ unique_id: 'site_nvr_cam-1_bitrate', device_class: 'data_rate', unit_of_measurement: 'kbit/s', state_topic: 'site/nvr/cameras/cam-1/state', value_template: '{{ value_json.bitrate_kbps }}' });
    expect(age).toMatchObject({ unique_id: 'site_nvr_cam-1_last_segment_age', device_class: 'duration', unit_of_measurement: 's', value_template: '{{ value_json.last_segment_age_seconds }}' });
    expect(camera).toMatchObject({ unique_id: 'site_nvr_cam-1_snapshot', topic: 'site/nvr/cameras/cam-1/snapshot' });
  });

  it('removes exactly the configs it published, with empty payloads', () => {
    const removed = discovery.removeCamera('cam-1');
    expect(removed.map((r) => r.topic)).toEqual(discovery.camera({ id: 'cam-1', name: 'x' }).map((c) => c.topic));
    expect(removed.every((r) => r.payload === '')).toBe(true);
  });

  it('makes the node a device of its own, whose entity no camera\'s can collide with', () => {
    const node = discovery.node();
    expect(node.topic).toBe('homeassistant/binary_sensor/site_nvr/status/config');
    expect(JSON.parse(node.payload)).toMatchObject({ unique_id: 'site_nvr_status', state_topic: 'site/nvr/availability', payload_on: 'online', payload_off: 'offline', device: { identifiers: ['site_nvr'] } });
    expect(discovery.camera({ id: 'status', name: 'status' }).map((c) => c.topic)).not.toContain(node.topic);
  });
});
