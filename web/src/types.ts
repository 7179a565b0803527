/**
 * The shapes the page reads from the API (snake_case, as the API speaks), taken from the very TypeBox
 * schemas the server validates and serialises its responses with: a field renamed or retyped there
 * fails the page's type check here. Type-only imports: nothing of the server reaches the bundle.
 */
import type { Static } from '@sinclair/typebox';
import type { MeOut } from '../../src/api/schemas/auth.schemas.js';
import type { CameraOut, CameraStatusOut } from '../../src/api/schemas/camera.schemas.js';
import type { EventOut, GapOut, SegmentOut, TimelineOut } from '../../src/api/schemas/footage.schemas.js';
import type { CameraMotionOut, MotionBucketOut, MotionOut } from '../../src/api/schemas/motion.schemas.js';
import type { DeliveryOut, WebhookCreated, WebhookOut } from '../../src/api/schemas/webhooks.schemas.js';

export type Camera = CameraOut;
export type CameraStatus = CameraStatusOut;
export type Gap = Static<typeof GapOut>;
export type Timeline = Static<typeof TimelineOut>;
export type Segment = Static<typeof SegmentOut>;
export type VigilEvent = Static<typeof EventOut>;
export type Me = Static<typeof MeOut>;
export type Webhook = WebhookOut;
export type WebhookWithSecret = Static<typeof WebhookCreated>;
export type Delivery = DeliveryOut;
export type Motion = Static<typeof MotionOut>;
export type CameraMotion = Static<typeof CameraMotionOut>;
export type MotionBucket = Static<typeof MotionBucketOut>;
