// Runs node-oidc-provider (github.com/panva/node-oidc-provider) for
// internal/testoauth on a loopback port. Its one argument is a JSON file of
// settings, written by testoauth.Start; it prints "listening PORT" once it
// serves. No token is ever printed.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const conf = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { default: Provider } = await import(conf.module);

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const provider = new Provider(issuer, {
  clients: conf.clients,
  scopes: conf.scopes,
  claims: { openid: ['sub'], email: ['email'] },
  // The user's login name is their account id and address.
  findAccount: (ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: sub }),
  }),
  // As Microsoft's and Google's servers do for a desktop program, a code
  // or device grant gives a refresh token, bound to no browser session.
  // (oidc-provider's default, after OpenID Connect Core, would want
  // prompt=consent with the offline_access scope.)
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: () => false,
  jwks: { keys: [privateKey.export({ format: 'jwk' })] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: {
    AccessToken: conf.accessTokenTTL,
    RefreshToken: conf.refreshTokenTTL,
    DeviceCode: 600,
    IdToken: 3600,
    Interaction: 600,
    Session: 86400,
    Grant: conf.refreshTokenTTL,
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true, initialAccessToken: conf.registrationToken },
  },
});

// RFC 8628 lets the server name the polling interval; this one names
// none, which makes clients wait 5 s between polls. Tests are in a hurry.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body.interval = conf.devicePollInterval;
  }
});

// For tests only: POST /test/expire with token=ACCESS_TOKEN ends that
// access token as its expiry would, leaving its grant and refresh token
// alone (revoking it through /token/revocation may end the grant).
provider.use(async (ctx, next) => {
  if (ctx.path !== '/test/expire' || ctx.method !== 'POST') {
    return next();
  }
  let body = '';
  for await (const chunk of ctx.req) body += chunk;
  const token = new URLSearchParams(body).get('token');
  const at = token && await provider.AccessToken.find(token);
  if (at) await at.destroy();
  ctx.status = at ? 204 : 404;
});

server.on('request', provider.callback());
process.on('SIGTERM', () => { server.close(); process.exit(0); });
console.log(`listening ${port}`);
