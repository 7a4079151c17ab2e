// verify.mjs verifies keygate access tokens with jose, as a Node service would: the keys from
// the issuer's JWKS (createRemoteJWKSet), then jwtVerify with the issuer, the audience, typ
// at+jwt and EdDSA only. The Go tests in test/interop run it.
//
// Usage: node verify.mjs JWKS_URL ISSUER AUDIENCE < tokens, one a line. Prints one JSON line a
// token: {"ok":true,"header":{...},"claims":{...}} or {"ok":false,"error":"..."}.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { createInterface } from 'node:readline';

const [url, issuer, audience] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(url));
for await (const line of createInterface({ input: process.stdin })) {
  if (line === '') continue;
  try {
    const { payload, protectedHeader } = await jwtVerify(line, jwks, {
      issuer, audience, typ: 'at+jwt', algorithms: ['EdDSA'],
    });
    console.log(JSON.stringify({ ok: true, header: protectedHeader, claims: payload }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: `${e.code ?? e.name}: ${e.message}` }));
  }
}
