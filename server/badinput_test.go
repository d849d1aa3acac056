package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/server"
)

// TestBadInput sends each bad request and checks its documented status,
// problem type and field, and that the store is as it was.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	finished := e.enqueue(api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: "x"})})
	e.wait(finished)
	running := e.enqueue(api.EnqueueRequest{Task: "block"})
	e.enqueue(api.EnqueueRequest{Task: "approval", SleepKey: "taken"})
	big := `{"task":"greet","input":{"name":"` + strings.Repeat("x", 70<<10) + `"}}`
	cases := []struct {
		name  string
		req   request
		code  int
		typ   string
		field string
	}{
		{"MalformedJSON", request{method: "POST", path: "/v1/executions", body: `{"task":`}, 400, api.TypeInvalidRequest, ""},
		{"NotJSON", request{method: "POST", path: "/v1/executions", body: `task=greet`}, 400, api.TypeInvalidRequest, ""},
		{"EmptyBody", request{method: "POST", path: "/v1/executions", body: ``, contentType: "application/json"}, 400, api.TypeInvalidRequest, ""},
		{"TwoValues", request{method: "POST", path: "/v1/executions", body: `{"task":"greet"} {}`}, 400, api.TypeInvalidRequest, ""},
		{"BodyNotAnObject", request{method: "POST", path: "/v1/executions", body: `[1]`}, 400, api.TypeInvalidRequest, ""},
		{"WrongTypeOfField", request{method: "POST", path: "/v1/executions", body: `{"task":5}`}, 400, api.TypeInvalidRequest, "task"},
		{"WrongTypeOfOption", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","timeout_ms":"1s"}`}, 400, api.TypeInvalidRequest, "timeout_ms"},
		{"UnknownField", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"urgency":1}`}, 400, api.TypeInvalidRequest, "urgency"},
		{"MissingTask", request{method: "POST", path: "/v1/executions", body: `{"input":{}}`}, 400, api.TypeInvalidRequest, "task"},
		{"WrongTypeOfInput", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":5}}`}, 400, api.TypeInvalidInput, "input.name"},
		{"InputNotUTF8", request{method: "POST", path: "/v1/executions", body: []byte("{\"task\":\"greet\",\"input\":{\"name\":\"\xff\"}}")}, 400, api.TypeInvalidInput, "input"},
		{"InputRefusedByValidator", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":""}}`}, 400, api.TypeInvalidInput, ""},
		{"TimeoutOutOfRange", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"timeout_ms":0}`}, 400, api.TypeInvalidOption, "timeout_ms"},
		{"DelayOverflows", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"delay_ms":9223372036854775807}`}, 400, api.TypeInvalidOption, "delay_ms"},
		{"BadRetryPolicy", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"retry":{"max_retries":-1}}`}, 400, api.TypeInvalidOption, "retry"},
		{"BadIdempotencyKey", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"idempotency_key":"a b"}`}, 400, api.TypeInvalidOption, "idempotency_key"},
		{"WhileActiveWithoutKey", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"idempotency_while_active":true}`}, 400, api.TypeInvalidOption, "idempotency_while_active"},
		{"BadTags", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"tags":["a,b"]}`}, 400, api.TypeInvalidOption, "tags"},
		{"SleepKeyOnPlainTask", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"},"sleep_key":"k"}`}, 400, api.TypeInvalidInput, "sleep_key"},
		{"InputOnSleepingTask", request{method: "POST", path: "/v1/executions", body: `{"task":"approval","input":1,"sleep_key":"k2"}`}, 400, api.TypeInvalidInput, "input"},
		{"SleepingWithoutKey", request{method: "POST", path: "/v1/executions", body: `{"task":"approval"}`}, 400, api.TypeInvalidInput, "sleep_key"},
		{"SleepingKeyTaken", request{method: "POST", path: "/v1/executions", body: `{"task":"approval","sleep_key":"taken"}`}, 409, api.TypeDuplicate, ""},
		{"UnknownTask", request{method: "POST", path: "/v1/executions", body: `{"task":"nope","input":{}}`}, 404, api.TypeUnknownTask, "task"},
		{"OversizedBody", request{method: "POST", path: "/v1/executions", body: big}, 413, api.TypeBodyTooLarge, ""},
		{"NotJSONContentType", request{method: "POST", path: "/v1/executions", body: `{"task":"greet"}`, contentType: "text/plain"}, 415, api.TypeUnsupportedMedia, ""},
		{"BatchWithOneBadItem", request{method: "POST", path: "/v1/executions/batch", body: `{"items":[{"task":"greet","input":{"name":"a"}},{"task":"greet","input":{"name":[]}}]}`}, 400, api.TypeInvalidInput, "items[1].input.name"},
		{"BatchWithUnknownTask", request{method: "POST", path: "/v1/executions/batch", body: `{"items":[{"task":"greet","input":{"name":"a"}},{"task":"nope"}]}`}, 404, api.TypeUnknownTask, "items[1].task"},
		{"MissingToken", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"}}`, token: "-"}, 401, api.TypeUnauthorized, ""},
		{"WrongToken", request{method: "POST", path: "/v1/executions", body: `{"task":"greet","input":{"name":"a"}}`, token: "wrong-token-0123456789"}, 401, api.TypeUnauthorized, ""},
		{"MissingTokenOnRead", request{method: "GET", path: "/v1/executions/" + finished, token: "-"}, 401, api.TypeUnauthorized, ""},
		{"MissingTokenOnUnknownRoute", request{method: "GET", path: "/admin", token: "-"}, 401, api.TypeUnauthorized, ""},
		{"UnknownExecution", request{method: "GET", path: "/v1/executions/nope"}, 404, api.TypeNotFound, ""},
		{"WaitUnknownExecution", request{method: "GET", path: "/v1/executions/nope/wait?timeout_ms=10"}, 404, api.TypeNotFound, ""},
		{"WaitBadTimeout", request{method: "GET", path: "/v1/executions/" + running + "/wait?timeout_ms=-1"}, 400, api.TypeInvalidRequest, "timeout_ms"},
		{"CancelFinished", request{method: "POST", path: "/v1/executions/" + finished + "/cancel"}, 409, api.TypeFinished, ""},
		{"CancelUnknown", request{method: "POST", path: "/v1/executions/nope/cancel"}, 404, api.TypeNotFound, ""},
		{"RetryUnfinished", request{method: "POST", path: "/v1/executions/" + running + "/retry"}, 409, api.TypeNotFinished, ""},
		{"WakeNonSleepingTask", request{method: "POST", path: "/v1/wake", body: `{"key":"taken","task":"greet"}`}, 409, api.TypeNotSleeping, "task"},
		{"WakeOtherTasksKey", request{method: "POST", path: "/v1/wake", body: `{"key":"taken","task":"other"}`}, 404, api.TypeNotFound, ""},
		{"WakeUnknownKey", request{method: "POST", path: "/v1/wake", body: `{"key":"nope","output":1}`}, 404, api.TypeNotFound, ""},
		{"WakeWithoutKey", request{method: "POST", path: "/v1/wake", body: `{"output":1}`}, 400, api.TypeInvalidRequest, "key"},
		{"WakeOutputAndError", request{method: "POST", path: "/v1/wake", body: `{"key":"taken","output":1,"error":"no"}`}, 400, api.TypeInvalidRequest, "output"},
		{"ListUnknownStatus", request{method: "GET", path: "/v1/executions?status=done"}, 400, api.TypeInvalidRequest, "status"},
		{"ListUnknownParameter", request{method: "GET", path: "/v1/executions?sort=id"}, 400, api.TypeInvalidRequest, "sort"},
		{"ListBadLimit", request{method: "GET", path: "/v1/executions?limit=0"}, 400, api.TypeInvalidRequest, "limit"},
		{"ListBadTime", request{method: "GET", path: "/v1/executions?created_from=yesterday"}, 400, api.TypeInvalidRequest, "created_from"},
		{"ListForeignCursor", request{method: "GET", path: "/v1/executions?cursor=abc"}, 400, api.TypeInvalidInput, ""},
		{"WrongMethod", request{method: "DELETE", path: "/v1/executions"}, 405, api.TypeMethodNotAllowed, ""},
		{"NoRoute", request{method: "GET", path: "/v2/executions"}, 404, api.TypeNoRoute, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.do(c.req)
			if r.Status != c.code {
				t.Fatalf("status %d, want %d: %s", r.Status, c.code, r.Body)
			}
			p := r.problem(t)
			if p.Type != c.typ || p.Field != c.field || p.Detail == "" {
				t.Fatalf("problem %+v, want type %s, field %q and a detail", p, c.typ, c.field)
			}
			if c.code == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if after := e.snapshot(); after != before {
				t.Fatalf("the store changed:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
}

func TestAuthorizeFunction(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		c.Token = ""
		c.Authorize = func(r *http.Request) error {
			switch r.Header.Get("X-Role") {
			case "admin":
				return nil
			case "guest":
				return api.ErrForbidden
			}
			return errors.New("who are you?")
		}
	})
	for role, want := range map[string]int{"admin": 200, "guest": 403, "": 401} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tasks", nil)
		req.Header.Set("X-Role", role)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("role %q: status %d, want %d", role, resp.StatusCode, want)
		}
	}
}

func TestNoAuthIsExplicit(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"Nothing", server.Config{}, "no authentication"},
		{"ShortToken", server.Config{Token: "short"}, "at least 16"},
		{"TokenAndNoAuth", server.Config{Token: testToken, NoAuth: true}, "one of"},
		{"DefaultWaitOverMax", server.Config{NoAuth: true, MaxWait: time.Second, DefaultWait: time.Minute}, "DefaultWait"},
	} {
		if _, err := server.New(e.ex, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	open := newEnv(t, func(c *server.Config) { c.Token, c.NoAuth = "", true })
	if r := open.do(request{method: "GET", path: "/v1/tasks", token: "-"}); r.Status != 200 {
		t.Fatalf("NoAuth: status %d", r.Status)
	}
}

func TestHTTPServerTimeouts(t *testing.T) {
	e := newEnv(t)
	h, err := server.New(e.ex, server.Config{Token: testToken, MaxWait: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := h.HTTPServer(":0")
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.WriteTimeout <= 20*time.Second {
		t.Fatalf("timeouts: read header %s, read %s, write %s, idle %s", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
