package server

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of the JSON API, as GET
// /v1/openapi.json serves it (the repository keeps it as
// server/openapi.json).
//
//go:embed openapi.json
var OpenAPI []byte

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	writeBody(w, http.StatusOK, "application/json", OpenAPI)
}
