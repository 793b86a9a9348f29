// Package testoauth runs a real OAuth 2.0 authorization server on loopback
// for tests of OAuth2 login: node-oidc-provider
// (github.com/panva/node-oidc-provider, an OpenID Certified implementation
// of OAuth 2.0 and OpenID Connect), version 9.13.3 as pinned in
// npm/package.json, run by Node.js with the settings of provider.mjs.
//
// A test starts one with [Start], registers a public client with
// [Server.Client], and then plays the user where the program under test
// would send them to a browser: [Server.ApproveAuthCode] signs in and
// consents to an authorization request and delivers the redirect to the
// client's loopback listener; [Server.ApproveDevice] enters a device flow's
// user code. [Server.Revoke] and a short [Options.AccessTokenTTL] make a
// token stop working; [Server.Introspect] says what the server thinks of
// one. Resource servers (Dovecot's oauth2 passdb, and Postfix through it)
// check tokens at [Server.IntrospectURL] with the confidential client
// [Server.ResourceClientID].
//
// # Why node-oidc-provider
//
// The tests need, from one server that runs without Docker and without
// the internet: the authorization code grant with PKCE and a loopback
// redirect on any port (RFC 8252 §7.3), the device authorization grant
// (RFC 8628), refresh tokens, revocation (RFC 7009), introspection
// (RFC 7662) for Dovecot, and access tokens that expire within seconds.
// The candidates from the package registries, checked in December 2026:
//
//   - Ory Hydra v2.3.0 (the newest on the Go module proxy) has no device
//     grant (its source has no device_code), and its go.mod has replace
//     directives, so go install refuses it.
//   - zitadel/oidc v3.52.0's example provider: its main registers no
//     client that may use the device grant, its storage hard-codes 5
//     minutes for access tokens, and its introspection answers only for a
//     client in the token's audience; each would need our own code.
//   - Glewlwyd (Debian has 2.7.5) compares redirect URIs exactly, so a
//     native client's loopback port cannot vary.
//   - Dex has no RFC 7009 revocation endpoint (its gRPC API revokes
//     refresh tokens only), and its go.mod has a replace directive.
//
// node-oidc-provider does all of it by configuration: its in-memory
// store, dynamic client registration (RFC 7591) for the tests' clients,
// and its development sign-in and consent pages (any login name is taken,
// and becomes the token's subject: use the mail address). Node.js is on
// the project's machines; .ci/run installs the package from the npm
// registry with npm ci. A test is skipped where it is not installed, or
// fails where MAILMERGE_TEST_POSTFIX demands the real servers (see
// internal/testenv).
//
// No helper here prints a token: logs and failures show [Redact]ed forms.
package testoauth
