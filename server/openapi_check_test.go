package server_test

// The API's answers are checked against its OpenAPI document with a real
// validator (github.com/pb33f/libopenapi-validator, OpenAPI 3.1): every
// answer of every request the tests send through env.do, and the request
// too when it succeeded. The validator is imported by tests only, so
// programs that use durable do not compile it.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/server"
)

var (
	oasOnce      sync.Once
	oasMu        sync.Mutex
	oasValidator validator.Validator
	oasErr       []error
)

func openAPIValidator(t testing.TB) validator.Validator {
	t.Helper()
	oasOnce.Do(func() {
		doc, err := libopenapi.NewDocument(server.OpenAPI)
		if err != nil {
			oasErr = []error{err}
			return
		}
		oasValidator, oasErr = validator.NewValidator(doc)
	})
	if len(oasErr) > 0 {
		t.Fatalf("the OpenAPI document: %v", oasErr)
	}
	return oasValidator
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	v := openAPIValidator(t)
	oasMu.Lock()
	defer oasMu.Unlock()
	if ok, errs := v.ValidateDocument(); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(server.OpenAPI, &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Fatalf("not an OpenAPI 3.1.0 document: %v", err)
	}
	// Every problem type of package api is in the document's enum.
	for _, typ := range api.Types() {
		if !bytes.Contains(server.OpenAPI, []byte(`"`+typ+`"`)) {
			t.Errorf("problem type %s is not in the document", typ)
		}
	}
}

// checkOpenAPI checks an answer (and, when it succeeded, its request)
// against the OpenAPI document.
func checkOpenAPI(t testing.TB, req request, body []byte, resp response) {
	t.Helper()
	if undocumented(req, resp) {
		return
	}
	v := openAPIValidator(t)
	hreq := func() *http.Request {
		r, err := http.NewRequest(req.method, "http://durable.test"+req.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("Authorization", "Bearer "+testToken)
		return r
	}
	hresp := &http.Response{StatusCode: resp.Status, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(resp.Body)), Request: hreq()}
	oasMu.Lock()
	defer oasMu.Unlock()
	if ok, errs := v.ValidateHttpResponse(hreq(), hresp); !ok {
		t.Errorf("%s %s: the answer (%d %s) does not match the OpenAPI document:%s", req.method, req.path, resp.Status, resp.Body, describe(errs))
	}
	if resp.Status/100 == 2 {
		if ok, errs := v.ValidateHttpRequest(hreq()); !ok {
			t.Errorf("%s %s: the request, which succeeded, does not match the OpenAPI document:%s", req.method, req.path, describe(errs))
		}
	}
}

func describe[E interface{ Error() string }](errs []E) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n\t" + e.Error())
	}
	return b.String()
}

// undocumented reports an answer to a route or method the document does
// not have, by design: no_route, method_not_allowed, and the 401 of a
// request without credentials on such a route.
func undocumented(req request, resp response) bool {
	for _, typ := range []string{api.TypeNoRoute, api.TypeMethodNotAllowed} {
		if bytes.Contains(resp.Body, []byte(`"`+typ+`"`)) {
			return true
		}
	}
	documented := strings.HasPrefix(req.path, "/v1/") || strings.HasPrefix(req.path, "/orpc/")
	return resp.Status == http.StatusUnauthorized && !documented
}
