// Package httpapi is keygate's HTTP driving adapter: the chi router of the auth service
// (NewAuthRouter), the guard middleware any net/http or chi service puts in front of its API
// (RequireToken, Claims, RequireRole), and the pieces both share: one error mapping table to
// RFC 9457 problem documents, strict JSON request bodies, request ids, the client address
// behind trusted proxies, security headers, and a server with safe timeouts and graceful
// shutdown. It imports only core/, ports/, chi and the standard library.
package httpapi
