import type { LintRule, RawFinding } from '../types.ts';

/** Media that cannot carry a classified JSON field or text a content detector would find. */
const opaque = /^(image|audio|video|font)\//i;

export default {
  id: 'unmasked-content-type',
  severity: 'warning',
  title: 'An HTTP target with classified fields passes some responses through unmasked',
  explanation:
    'Field masks ($.customer.email) apply to JSON bodies and content detectors to text. `passUnmaskedContentTypes` lets responses of the listed media types through untouched, so a classified value served as text/csv, text/plain, application/xml or a wildcard type reaches the agent in clear text. Only opaque media (images, audio, video, fonts) are safe to pass through on a target that classifies data.',
  fix: 'Remove the type from passUnmaskedContentTypes, or restrict it to image/audio/video/font types.',
  check(ctx) {
    const out: RawFinding[] = [];
    for (const [name, t] of ctx.bundle?.targets ?? []) {
      const spec = t.doc.spec;
      if (spec.type !== 'http' || !(spec.classification ?? []).length) continue;
      (spec.passUnmaskedContentTypes ?? []).forEach((type, i) => {
        if (opaque.test(type) && !type.includes('*/')) return;
        out.push({
          message: `target '${name}' classifies ${spec.classification!.map((c) => c.name).join(', ')} but passes '${type}' responses unmasked`,
          at: { origin: t.origin, pointer: `/spec/passUnmaskedContentTypes/${i}` },
        });
      });
    }
    return out;
  },
} satisfies LintRule;
