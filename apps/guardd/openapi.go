package main

import _ "embed"

// openAPI is the OpenAPI 3.1 description of guardd's API, served at /openapi.json: the one
// source, edited by hand and checked against the handler by the TestOpenAPI tests.
//
//go:embed openapi.json
var openAPI []byte
