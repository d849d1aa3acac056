// Package api holds the types of durable's HTTP JSON API, shared by its
// server (package server) and its Go client (package client): the request
// and response bodies, and the problem details (RFC 9457) of its errors,
// each of a stable type tied to one of durable's sentinel errors.
//
// Payloads (an execution's input and output, a wake's output) travel as
// JSON values: the server decodes an input into the task's input type and
// stores it with the executor's codec; it shows stored payloads as JSON
// when they are (always, with the default JSONCodec) and as a JSON string
// of their base64 otherwise, with InputEncoding or OutputEncoding set to
// "base64". Durations are integers of milliseconds, times RFC 3339 strings
// in UTC.
//
// docs/server.md in the repository describes every route; the OpenAPI 3.1
// document the server serves (GET /v1/openapi.json) describes every body.
package api
