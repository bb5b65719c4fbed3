import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * The SQS client for the queue adapter. Credentials come from the SDK's default chain
 * (environment, shared files, container or instance roles); only a runtime without that
 * chain passes them in.
 *
 * With an `endpoint` (an emulator, a VPC endpoint, a proxy) requests must go to that
 * endpoint whatever host the queue URL names. The SDK's `useQueueUrlAsEndpoint` defaults
 * to true, which sends each request to the queue URL's own origin when it differs from
 * the resolved endpoint; emulators such as fauxqs hand out URLs like
 * http://sqs.us-east-1.localhost:PORT/..., a host that need not resolve at all. The
 * current SDK already skips that rewrite when an endpoint is configured, but older 3.x
 * releases did not, so it is switched off explicitly rather than relying on that.
 * Without an endpoint the default stays: against AWS the queue URL's host is the right
 * regional endpoint even when it is not the client's region.
 */
export function makeSqsClient(o: {
  region?: string;
  endpoint?: string;
  /** Only where the default chain cannot run (Cloudflare Workers, whose SDK build has none); everywhere else leave it unset. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}): SQSClient {
  return new SQSClient({
    ...(o.region ? { region: o.region } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint, useQueueUrlAsEndpoint: false } : {}),
  });
}
