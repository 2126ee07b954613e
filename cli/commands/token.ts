/**
 * `portcullis token issue`: mint a short-lived development token from the local dev issuer, which
 * a gateway started with the default config trusts. Production gateways trust your OIDC provider.
 */
import { gatewayDefaults } from '../../runtime/gateway/config.ts';
import { defineCommand, requireString } from '../command.ts';
import { issueToken } from '../../runtime/identity/dev-key.ts';
import { subcommandOf } from '../subcommands.ts';

export default defineCommand(
  {
    name: 'token',
    summary: 'Mint a development token (prints only the token, so $(portcullis token issue ...) works).',
    usage: 'portcullis token issue --subject NAME [--ttl 15m] [--groups a,b] [--data-dir .portcullis]',
    options: {
      subject: { type: 'string', short: 's' },
      ttl: { type: 'string', default: '15m' },
      groups: { type: 'string' },
      'data-dir': { type: 'string', default: gatewayDefaults.dataDir },
      json: { type: 'boolean' },
    },
    help: {
      subject: "the token's subject; the policy repo's Identity documents map it to an identity",
      ttl: 'lifetime, e.g. 30s, 15m, 1h (default 15m)',
      groups: 'comma-separated groups claim (used only by identities with match.groupsClaim)',
      'data-dir': 'where the dev issuer key lives (default .portcullis)',
      json: 'print {"token", "expiresAt"} as JSON',
    },
    positionals: true,
  },
  async ({ values, positionals }) => {
    subcommandOf('token', { issue: undefined }, positionals, 'portcullis token issue --subject NAME');
    const issued = await issueToken({
      dataDir: values['data-dir']!,
      subject: requireString(values.subject, 'subject', 'token'),
      ttl: values.ttl!,
      ...(values.groups
        ? {
            groups: values.groups
              .split(',')
              .map((g) => g.trim())
              .filter(Boolean),
          }
        : {}),
    });
    process.stdout.write(values.json ? JSON.stringify({ token: issued.token, expiresAt: issued.expiresAt.toISOString() }) + '\n' : issued.token + '\n');
    return 0;
  },
);
