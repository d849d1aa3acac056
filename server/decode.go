package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/durable-go/durable/api"
)

// readJSON decodes the request's body into v strictly, within the body
// limit: the body must be application/json, one JSON value, with no
// unknown field and no value of the wrong type.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return fmt.Errorf("%w: Content-Type %q: send application/json", api.ErrUnsupportedMedia, ct)
		}
	}
	return decodeJSON(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes), v)
}

// decodeJSON decodes one JSON value from body into v, refusing unknown
// fields, wrong types and trailing data, with errors naming the field.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return fmt.Errorf("%w: the body holds more than one JSON value", api.ErrInvalidRequest)
	}
	return nil
}

// jsonError turns a decoding error into the API's.
func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: the body is over the limit of %d bytes", api.ErrBodyTooLarge, mbe.Limit)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty body: send a JSON object", api.ErrInvalidRequest)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: malformed JSON: the body ends in the middle of a value", api.ErrInvalidRequest)
	case errors.As(err, &se):
		return fmt.Errorf("%w: malformed JSON at byte %d: %s", api.ErrInvalidRequest, se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("%w: the body is a JSON %s, not an object", api.ErrInvalidRequest, te.Value)
		}
		return &api.FieldError{Field: field, Err: fmt.Errorf("%w: a JSON %s cannot be a %s", api.ErrInvalidRequest, te.Value, te.Type)}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return &api.FieldError{Field: field, Err: fmt.Errorf("%w: unknown field %s", api.ErrInvalidRequest, name)}
	}
	return fmt.Errorf("%w: %s", api.ErrInvalidRequest, strings.TrimPrefix(err.Error(), "json: "))
}
