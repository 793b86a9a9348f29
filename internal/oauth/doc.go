// Package oauth logs a user in to their mail provider with OAuth 2.0 and
// keeps them logged in: it obtains tokens, stores them, and hands out a
// valid access token to the SMTP and IMAP clients, which send it with the
// SASL mechanisms XOAUTH2 or OAUTHBEARER.
//
// A [Client] is the application the user logs in through (registered by
// their IT in Entra ID or Google Cloud) and the authorization server's
// endpoints. [LoginBrowser] runs the authorization code grant with PKCE
// (RFC 7636) and a loopback redirect (RFC 8252 §7.3): the user signs in in
// their browser, which is sent back to a listener on 127.0.0.1. On a
// machine without a browser, [LoginDevice] runs the device authorization
// grant (RFC 8628): the user enters a code on another device.
//
// A [Store] keeps the tokens of an [Account] between runs: [NewStore]
// picks the operating system's credential store where it works (Windows
// Credential Manager, the macOS Keychain, the Secret Service of a Linux
// desktop), else files readable by the user alone. A [Source] reads them
// back and gives out the access token, refreshing it shortly before it
// expires and when a server refuses it, and saving the refreshed tokens.
//
// Nothing here logs, prints or puts a token in an error.
package oauth
