package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/durable-go/durable/api"
)

// reply writes v as a JSON answer with status 200.
func (h *Handler) reply(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, "application/json", b)
}

// fail answers err as a problem.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		return // the client went away: nobody to answer
	}
	p := api.FromError(err)
	if p.Type == api.TypeInternal {
		h.cfg.Logger.Error("durable server: internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if strings.HasPrefix(r.URL.Path, orpcPrefix) {
		status, b := orpcError(p)
		writeBody(w, status, "application/json", b)
		return
	}
	b, _ := json.Marshal(p) // strings and an int
	writeBody(w, p.Status, api.ContentTypeProblem, b)
}

func writeBody(w http.ResponseWriter, status int, contentType string, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}
