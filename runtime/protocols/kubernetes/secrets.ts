/**
 * Secret values in Kubernetes responses. A Secret's `data` (base64) and `stringData` values are
 * masked wherever a Secret appears: a get, the items of a list (which carry no `kind` of their own),
 * a watch event's `object`, a Table row's `object`, a `List` of mixed kinds. The annotation
 * `kubectl.kubernetes.io/last-applied-configuration` holds a full copy of an applied Secret, data
 * included, so it is masked too. Keys stay visible: they say what a Secret holds, not its value.
 */
import type { MaskStrategy } from '../../engine/decision.ts';
import { maskJsonValue } from '../../http-transport/masking/values.ts';
import { setOwn } from '../../http-transport/masking/json-path.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `secretsRequest`: the request was about the `secrets` resource, so an object without a `kind`
 * (a list item) is a Secret too.
 */
export function maskSecrets(root: unknown, strategy: MaskStrategy, key: Buffer, secretsRequest: boolean): { value: unknown; count: number } {
  let count = 0;

  const maskData = (secret: Json): void => {
    const data = secret.data;
    if (isObject(data)) {
      for (const k of Object.keys(data)) {
        setOwn(data, k, maskBase64(data[k], strategy, key));
        count++;
      }
    } else if (data !== undefined && data !== null) {
      setOwn(secret, 'data', maskJsonValue(data, strategy, key));
      count++;
    }
    const stringData = secret.stringData;
    if (isObject(stringData)) {
      for (const k of Object.keys(stringData)) {
        setOwn(stringData, k, maskJsonValue(stringData[k], strategy, key));
        count++;
      }
    } else if (stringData !== undefined && stringData !== null) {
      setOwn(secret, 'stringData', maskJsonValue(stringData, strategy, key));
      count++;
    }
    const metadata = secret.metadata;
    if (isObject(metadata) && isObject(metadata.annotations)) {
      const annotations = metadata.annotations;
      const applied = annotations[LAST_APPLIED];
      if (typeof applied === 'string') {
        setOwn(annotations, LAST_APPLIED, maskApplied(applied));
        count++;
      }
    }
  };

  const maskApplied = (applied: string): string => {
    try {
      const inner = JSON.parse(applied) as unknown;
      if (isObject(inner)) {
        maskData(inner);
        return JSON.stringify(inner);
      }
    } catch {
      // not JSON: nothing in it can be told apart, so none of it is shown
    }
    return String(maskJsonValue(applied, strategy, key));
  };

  const isSecret = (o: Json, inSecretsContext: boolean): boolean => o.kind === 'Secret' || (inSecretsContext && o.kind === undefined && ('data' in o || 'stringData' in o || 'metadata' in o));

  const walk = (node: unknown, inSecretsContext: boolean): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, inSecretsContext);
      return;
    }
    if (!isObject(node)) return;
    if (isSecret(node, inSecretsContext)) {
      maskData(node);
      return;
    }
    // a SecretList's items, a watch event's object and a Table row's object are Secrets by context
    const listOfSecrets = node.kind === 'SecretList' || inSecretsContext;
    for (const member of Object.keys(node)) {
      if (member === 'metadata') continue;
      walk(node[member], listOfSecrets && (member === 'items' || member === 'object' || member === 'rows'));
    }
  };

  walk(root, secretsRequest);
  return { value: root, count };
}

/** Mask the decoded value and re-encode it, so typed clients still read valid base64. */
function maskBase64(value: unknown, strategy: MaskStrategy, key: Buffer): unknown {
  if (typeof value !== 'string') return maskJsonValue(value, strategy, key);
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const masked = maskJsonValue(decoded, strategy, key);
  return masked === null ? null : Buffer.from(String(masked)).toString('base64');
}
