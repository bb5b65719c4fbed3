import { S3Client } from '@aws-sdk/client-s3';

/**
 * The one S3 client a process shares between storage, URLs and the job store.
 * Credentials come from the SDK's default chain (env, profile, container / instance role),
 * so no secret travels through our configuration objects or logs. The exception is
 * Cloudflare Workers, whose SDK build has no default chain: its entry passes `credentials`
 * from the Worker's secrets.
 */
export function makeS3Client(o: {
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Only where the default chain cannot run (Cloudflare Workers); everywhere else leave it unset. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}): S3Client {
  return new S3Client({
    ...(o.region ? { region: o.region } : {}),
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.endpoint
      ? {
          endpoint: o.endpoint,
          // S3-compatible stores (MinIO, R2, emulators) often reject or mangle the flexible
          // checksums recent SDKs send by default; AWS itself keeps the stronger default.
          requestChecksumCalculation: 'WHEN_REQUIRED' as const,
          responseChecksumValidation: 'WHEN_REQUIRED' as const,
        }
      : {}),
    forcePathStyle: o.forcePathStyle ?? false,
  });
}

/** The HTTP status and error name of an SDK error, whatever shape the runtime gave it. */
function describe(err: unknown): { status: number | undefined; name: string } {
  const e = err as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  return {
    status: e?.$metadata?.httpStatusCode,
    name: typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : '',
  };
}

export function isNotFound(err: unknown): boolean {
  const { status, name } = describe(err);
  return status === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * A conditional write lost a race: 412 when If-Match / If-None-Match did not hold, 409
 * when S3 saw a concurrent conditional write on the same key. Both mean "read again".
 */
export function isWriteConflict(err: unknown): boolean {
  const { status, name } = describe(err);
  return status === 412 || status === 409 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
}

export function isInvalidRange(err: unknown): boolean {
  const { status, name } = describe(err);
  return status === 416 || name === 'InvalidRange';
}
