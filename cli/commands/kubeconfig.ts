/**
 * `portcullis kubeconfig`: a kubeconfig that sends kubectl through the gateway. The cluster's server
 * is the gateway's URL for the target (kubectl appends /api/... to it), and the user's credential is
 * a fresh short-lived token from the development issuer: the agent never sees the cluster's own.
 * kubectl sends bearer tokens only over TLS, so the gateway must listen with TLS for kubectl;
 * `--ca-file` puts the gateway's CA (or self-signed certificate) into the kubeconfig.
 */
import { gatewayDefaults } from '../../runtime/gateway/config.ts';
import { readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { defineCommand, requireString } from '../command.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { PortcullisError } from '../../runtime/errors.ts';

export function kubeconfigYaml(opts: { target: string; server: string; user: string; token: string; caData?: string }): string {
  const context = `portcullis-${opts.target}`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: context, cluster: { server: opts.server, ...(opts.caData ? { 'certificate-authority-data': opts.caData } : {}) } }],
    users: [{ name: `${opts.user}@${context}`, user: { token: opts.token } }],
    contexts: [{ name: context, context: { cluster: context, user: `${opts.user}@${context}` } }],
    'current-context': context,
    preferences: {},
  });
}

export default defineCommand(
  {
    name: 'kubeconfig',
    summary: 'Print a kubeconfig that points kubectl at the gateway for one Kubernetes target.',
    usage: 'portcullis kubeconfig --target NAME [--gateway URL] [--ca-file PEM] [--subject NAME] [--ttl 15m] [--data-dir .portcullis] > kubeconfig.yaml',
    options: {
      target: { type: 'string', short: 't' },
      gateway: { type: 'string', default: `https://${gatewayDefaults.host}:${gatewayDefaults.httpPort}` },
      'ca-file': { type: 'string' },
      subject: { type: 'string', default: 'ops-agent' },
      ttl: { type: 'string', default: '15m' },
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
    },
    help: {
      target: 'the Kubernetes target to reach (as named in the policy repo)',
      gateway: `the gateway's HTTPS listener (default https://${gatewayDefaults.host}:${gatewayDefaults.httpPort})`,
      'ca-file': "PEM CA bundle (or self-signed certificate) that signed the gateway's certificate",
      subject: 'token subject the kubeconfig authenticates as (default ops-agent)',
      ttl: 'token lifetime, e.g. 15m or 1h (default 15m)',
      'data-dir': 'where the dev issuer key lives (default .portcullis)',
    },
  },
  async ({ values }) => {
    const target = requireString(values.target, 'target', 'kubeconfig');
    if (!/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(target)) {
      throw new PortcullisError('invalid_argument', `--target ${JSON.stringify(target)} is not a target name`);
    }
    let gateway: URL;
    try {
      gateway = new URL(values.gateway!);
    } catch {
      throw new PortcullisError('invalid_argument', `--gateway ${JSON.stringify(values.gateway)} is not a URL`, { details: { hint: 'e.g. --gateway http://127.0.0.1:8080' } });
    }
    if (gateway.protocol !== 'http:' && gateway.protocol !== 'https:') {
      throw new PortcullisError('invalid_argument', '--gateway must be an http or https URL');
    }
    const subject = requireString(values.subject, 'subject', 'kubeconfig');
    const issued = await issueToken({ dataDir: values['data-dir']!, subject, ttl: values.ttl! });
    const server = `${gateway.origin}${gateway.pathname.replace(/\/+$/, '')}/${target}`;
    if (gateway.protocol === 'http:') {
      process.stderr.write('# warning: kubectl does not send tokens over plain http; run the gateway with TLS and pass an https --gateway\n');
    }
    let caData: string | undefined;
    if (values['ca-file']) {
      try {
        caData = Buffer.from(await readFile(values['ca-file'])).toString('base64');
      } catch (error) {
        throw new PortcullisError('invalid_argument', `cannot read --ca-file ${values['ca-file']}`, { cause: error });
      }
    }
    process.stdout.write(kubeconfigYaml({ target, server, user: subject, token: issued.token, ...(caData ? { caData } : {}) }));
    process.stderr.write(`# token for ${subject} expires at ${issued.expiresAt.toISOString()}\n`);
    return 0;
  },
);
