/**
 * The event hub bridge against a real RabbitMQ (AMQP_URL; infra/rabbitmq/rabbitmq.sh, started by
 * .ci/run) receiving WSO2-shaped messages on amq.topic, as API Manager publishes them.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpBridge } from '../../bridge/amqp.ts';
import { EventPublisher } from '../../bridge/publish.ts';
import { MemoryBus } from '../../bus/memory.ts';
import { ControlPlaneChanged } from '../../events/control-plane-changed.ts';
import { DeadLetter } from '../../events/dead-letter.ts';
import { TokenRevoked } from '../../events/token-revoked.ts';
import { TOPICS } from '../../events/topics.ts';
import { until } from '../support/sqs.ts';
import { consumerAppRevocation, jwtRevocation, notification } from './wso2-messages.ts';

const url = process.env.AMQP_URL;
if (!url) {
  if (process.env.CI) throw new Error('AMQP_URL must be set in CI (infra/rabbitmq/rabbitmq.sh start)');
  console.warn('AMQP_URL is not set: the event hub bridge integration tests are SKIPPED');
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

async function setup() {
  const bus = new MemoryBus();
  const queueName = `mesh-apim-bridge-test-${randomBytes(4).toString('hex')}`;
  const bridge = new AmqpBridge(new EventPublisher(bus), {
    url: url!,
    exchange: 'amq.topic',
    queueName,
    reconnectMaxMs: 1_000,
    reconnectMinMs: 50,
    tenantDomain: 'carbon.super',
    now: Date.now,
  });
  bridge.start();
  await bridge.ready;
  const conn = await amqp.connect(url!);
  const ch = await conn.createConfirmChannel();
  cleanup.push(async () => {
    await bridge.stop();
    await ch.deleteQueue(queueName);
    await conn.close();
  });
  const publish = async (routingKey: string, body: string) => {
    ch.publish('amq.topic', routingKey, Buffer.from(body), { contentType: 'application/json' });
    await ch.waitForConfirms();
  };
  const revoked = () =>
    bus.records(TOPICS.tokenRevoked.name).map((r) => TokenRevoked.parse(JSON.parse(r.value!.toString())));
  const changed = () =>
    bus
      .records(TOPICS.controlPlaneChanged.name)
      .map((r) => ControlPlaneChanged.parse(JSON.parse(r.value!.toString())));
  const dead = () =>
    bus.records(TOPICS.deadLetter.name).map((r) => DeadLetter.parse(JSON.parse(r.value!.toString())));
  return { bus, bridge, ch, queueName, publish, revoked, changed, dead };
}

describe.skipIf(!url)('event hub bridge on RabbitMQ', () => {
  it('bridges tokenRevocation and notification messages; poison is dead-lettered; the queue drains', async () => {
    const s = await setup();
    await s.publish('tokenRevocation', jwtRevocation('jti-rmq-1'));
    await s.publish('tokenRevocation', consumerAppRevocation('ck-rmq', 1_764_000_000_000));
    await s.publish(
      'notification',
      notification('SUBSCRIPTIONS_CREATE', {
        eventId: 'n-1',
        tenantDomain: 'carbon.super',
        applicationId: 4,
      }),
    );
    await s.publish('tokenRevocation', '{"event": not json');
    await until(
      () => s.revoked().length === 2 && s.changed().length === 1 && s.dead().length === 1,
      20_000,
      'bridged',
    );
    expect(s.revoked().map((e) => [e.kind, e.value])).toEqual([
      ['jti', 'jti-rmq-1'],
      ['consumer-key', 'ck-rmq'],
    ]);
    expect(s.changed()[0]).toMatchObject({ entity: 'subscription', action: 'SUBSCRIPTIONS_CREATE' });
    expect(Buffer.from(s.dead()[0]!.original.value!, 'base64').toString()).toBe('{"event": not json');
    await until(async () => (await s.ch.checkQueue(s.queueName)).messageCount === 0, 10_000, 'drained');
  });

  it('holds (does not ack) a message while the bus refuses it, then delivers it', async () => {
    const s = await setup();
    s.bus.failProduce = new Error('stream down');
    await s.publish('tokenRevocation', jwtRevocation('jti-held'));
    await new Promise((r) => setTimeout(r, 700));
    expect(s.revoked()).toEqual([]);
    s.bus.failProduce = null;
    await until(() => s.revoked().length === 1, 20_000, 'delivered after the bus came back');
    expect(s.revoked()[0]!.value).toBe('jti-held');
  });

  it('reconnects after losing the connection; messages published meanwhile are not lost', async () => {
    const s = await setup();
    await s.bridge.dropConnection();
    await s.publish('tokenRevocation', jwtRevocation('jti-during-outage'));
    await until(() => s.bridge.connections >= 2, 20_000, 'reconnected');
    await until(
      () => s.revoked().some((e) => e.value === 'jti-during-outage'),
      20_000,
      'bridged after reconnect',
    );
  });

  it('a message redelivered after a crash before ack maps to the same event id', async () => {
    const s = await setup();
    await s.publish('tokenRevocation', jwtRevocation('jti-dup', 1_900_000_000_000, 'same-id'));
    await s.publish('tokenRevocation', jwtRevocation('jti-dup', 1_900_000_000_000, 'same-id'));
    await until(() => s.revoked().length === 2, 20_000, 'both bridged');
    const [x, y] = s.revoked();
    expect(x!.eventId).toBe(y!.eventId);
  });
});
