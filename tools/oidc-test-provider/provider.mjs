// A real OpenID provider (oidc-provider, a certified implementation) for the sign-in tests.
// Usage: node provider.mjs <config.json>. The config gives the port, the provider's signing keys
// (a private JWKS), the relying party (client id, redirect URIs, its public JWKS) and the test
// people (login -> claims). Prints "READY <issuer>" when it listens on 127.0.0.1.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
// The people are read again at each sign-in, so a test can add one without a restart.
const accounts = () => JSON.parse(readFileSync(process.argv[2], 'utf8')).accounts;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client.client_id,
    redirect_uris: config.client.redirect_uris,
    post_logout_redirect_uris: config.client.post_logout_redirect_uris || [],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'PS256',
    request_object_signing_alg: 'PS256',
    id_token_signed_response_alg: 'PS256',
    id_token_encrypted_response_alg: 'RSA-OAEP-256',
    id_token_encrypted_response_enc: 'A256GCM',
    jwks: config.client.jwks,
  }],
  jwks: config.keys,
  claims: {
    openid: ['sub', 'urn:oid:1.2.246.21', 'given_name', 'family_name'],
  },
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    encryption: { enabled: true },
    requestObjects: { enabled: true, requireSignedRequestObject: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  enabledJWA: {
    requestObjectSigningAlgValues: ['PS256', 'RS256', 'ES256'],
    clientAuthSigningAlgValues: ['PS256', 'RS256', 'ES256'],
    idTokenSigningAlgValues: ['PS256', 'RS256'],
    idTokenEncryptionAlgValues: ['RSA-OAEP-256'],
    idTokenEncryptionEncValues: ['A256GCM'],
  },
  ttl: { IdToken: config.id_token_ttl || 3600, AuthorizationCode: 60 },
  async findAccount(ctx, id) {
    const claims = accounts()[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  cookies: { keys: ['test-only-cookie-key'] },
});
provider.proxy = false;

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`READY ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
