/**
 * What a Kubernetes answer is masked with: Secret data (`data`/`stringData`, with the strictest
 * strategy of the Secret-data masks) and the JSON field and content masks every HTTP target gets.
 */
import type { Mask, MaskStrategy } from '../../engine/decision.ts';
import { jsonMasker } from '../../http-transport/masking/json-mask.ts';
import type { BodyMaskPolicy } from '../../http-transport/masking/body.ts';
import { fieldNamesOf } from '../../http-transport/masking/field-names.ts';
import type { Upstream } from '../../http-transport/upstream.ts';
import { maskSecrets } from './secrets.ts';

const strictness: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

/** The strictest strategy of the Secret-data masks, or undefined when none applies. */
export function secretStrategy(masks: readonly Mask[]): MaskStrategy | undefined {
  let s: MaskStrategy | undefined;
  for (const m of masks) if (m.kind === 'secret-data' && (!s || strictness[m.strategy] > strictness[s])) s = m.strategy;
  return s;
}

export interface KubernetesMasking {
  /** false: nothing to mask, the answer is passed through */
  active: boolean;
  policy(upstream: Upstream, what: { secretsRequest: boolean; isLog: boolean }): BodyMaskPolicy;
}

export function kubernetesMasking(masks: readonly Mask[], key: Buffer): KubernetesMasking {
  const secret = secretStrategy(masks);
  const masker = jsonMasker(masks, key);
  return {
    active: secret !== undefined || masker.active,
    policy: (upstream, { secretsRequest, isLog }) => ({
      target: upstream.name,
      transform: (value) => {
        let count = 0;
        let v = value;
        if (secret) ({ value: v, count } = maskSecrets(v, secret, key, secretsRequest));
        const m = masker.apply(v);
        return { value: m.value, count: count + m.count };
      },
      scrub: masker.scrub,
      detectors: masker.detectors,
      fieldNames: fieldNamesOf(masks),
      passUnmaskedContentTypes: [],
      textIsExpected: isLog,
      limit: upstream.maxBodyBytes,
    }),
  };
}
