import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { eventId } from '../../src/pipeline/webhooks/events.js';
import { generateWebhookSecret, signWebhook, webhookHeaders } from '../../src/pipeline/webhooks/sign.js';

describe('Standard Webhooks signing', () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ type: 'job.succeeded', data: { id: 'job_1' } });

  it('produces headers the standardwebhooks verifier accepts', () => {
    const headers = webhookHeaders(secret, 'msg_1', body);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('is rejected for a changed body, another secret, or a stale timestamp', () => {
    const headers = webhookHeaders(secret, 'msg_1', body);
    expect(() => new Webhook(secret).verify(body.replace('job_1', 'job_2'), headers)).toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
    const old = webhookHeaders(secret, 'msg_1', body, Date.now() - 10 * 60_000);
    expect(() => new Webhook(secret).verify(body, old)).toThrow(/timestamp/i);
  });

  it('matches the specification example', () => {
    // From the Standard Webhooks reference implementation's tests.
    const sig = signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('uses one stable webhook-id per job and event', () => {
    expect(eventId('job_abc', 'job.succeeded')).toBe(eventId('job_abc', 'job.succeeded'));
    expect(eventId('job_abc', 'job.succeeded')).not.toBe(eventId('job_abc', 'job.failed'));
    expect(eventId('job_abc', 'job.failed')).not.toBe(eventId('job_abd', 'job.failed'));
  });
});

describe('Standard Webhooks signing with rotated secrets', () => {
  it('signs with every secret listed, so a receiver holding either verifies', () => {
    const [next, prev, other] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
    const body = JSON.stringify({ type: 'job.failed', data: { id: 'job_2' } });
    const headers = webhookHeaders([next, prev], 'msg_2', body);
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(headers['webhook-signature']!.split(' ')[0]).toBe(signWebhook(next, 'msg_2', Number(headers['webhook-timestamp']), body));
    expect(new Webhook(next).verify(body, headers)).toEqual(JSON.parse(body));
    expect(new Webhook(prev).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(other).verify(body, headers)).toThrow();
  });
});
