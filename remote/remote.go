// Package remote makes tasks whose body is an HTTP call: the business
// logic stays in another service (in any language), and durable does the
// orchestration, retries, timeouts and persistence.
//
// NewTask registers a task whose run POSTs its input as JSON to a URL
// (or calls an oRPC procedure: Config.Procedure) and completes with the
// JSON answer decoded as its output. The run's context bounds the request,
// so the task's timeout (WithTimeout) and cancellation cancel it. How an
// answer ends the attempt:
//
//   - 2xx: completed, with the body decoded as O (an oRPC answer's "json");
//   - 408, 429, 5xx and network errors: a retryable error, retried per the
//     task's RetryPolicy, no sooner than the answer's Retry-After (capped
//     by Config.MaxRetryAfter);
//   - any other status: failed at once (not retried), with the message of
//     the answer (a problem's detail, an oRPC error's message, a JSON
//     "error" or "message", or the text);
//   - an answer over Config.MaxResponseBytes, or a 2xx that does not
//     decode as O: failed at once.
//
// Every request is signed: the header Durable-Signature holds
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of the secret over t.body>", and
// the headers Durable-Execution-Id, Durable-Attempt and Durable-Task-Id
// say which run calls, so that the callee can make its work idempotent
// (the same execution id on a retry). The callee checks a request with
// Verify (or serves it with Handler), which refuses a wrong signature and
// one older than its tolerance (replays).
package remote

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
)

// The headers of a call.
const (
	HeaderSignature   = "Durable-Signature"
	HeaderExecutionID = "Durable-Execution-Id"
	HeaderAttempt     = "Durable-Attempt"
	HeaderTaskID      = "Durable-Task-Id"
)

// Config says where and how a remote task calls.
type Config struct {
	// URL is the endpoint the input is POSTed to; with Procedure set, the
	// base URL of an oRPC handler (RPCHandler's prefix).
	URL string
	// Procedure, when set, makes the call an oRPC procedure call (RPC
	// protocol): a POST to URL/<Procedure> ("a/b" for a nested router)
	// with the body {"json": input}, answered with {"json": output}.
	Procedure string
	// Secret signs every request (HMAC-SHA256); at least 16 bytes.
	Secret []byte
	// Client sends the requests. Default: a client of its own with no
	// overall timeout (the run's context bounds each call).
	Client *http.Client
	// Header is added to every request (an API key of the callee's, say).
	Header http.Header
	// MaxResponseBytes limits the answer's body. Default 1 MiB.
	MaxResponseBytes int64
	// MaxRetryAfter caps the delay a Retry-After may ask for. Default 1 h.
	MaxRetryAfter time.Duration
}

const minSecretBytes = 16

var defaultClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
	MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true}}

func (c *Config) check() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("remote: URL %q: want http(s)://host/path", c.URL)
	case len(c.Secret) < minSecretBytes:
		return fmt.Errorf("remote: Secret is %d bytes: at least %d", len(c.Secret), minSecretBytes)
	case c.MaxResponseBytes < 0 || c.MaxRetryAfter < 0:
		return errors.New("remote: negative MaxResponseBytes or MaxRetryAfter")
	}
	if c.Procedure != "" {
		c.URL = strings.TrimSuffix(c.URL, "/") + "/" + strings.TrimPrefix(c.Procedure, "/")
	}
	if c.Client == nil {
		c.Client = defaultClient
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = 1 << 20
	}
	if c.MaxRetryAfter == 0 {
		c.MaxRetryAfter = time.Hour
	}
	c.Secret = bytes.Clone(c.Secret)
	c.Header = c.Header.Clone()
	return nil
}

// NewTask registers a remote task on ex: each run calls cfg's endpoint
// with the input and completes with its answer, as the package doc says.
// opts are the task's options (WithTimeout, WithRetry, ...), as for
// durable.NewTask.
func NewTask[I, O any](ex *durable.Executor, id string, cfg Config, opts ...durable.TaskOption) (*durable.Task[I, O], error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("%w: task %s: %w", durable.ErrInvalidTask, id, err)
	}
	return durable.NewTask(ex, id, func(ctx context.Context, in I) (O, error) {
		var out O
		err := cfg.call(ctx, in, &out)
		return out, err
	}, opts...)
}

// call makes one call: it sends in and decodes the answer into out.
func (c *Config) call(ctx context.Context, in, out any) error {
	body, err := c.body(in)
	if err != nil {
		return durable.NonRetryable(fmt.Errorf("remote: encoding the input: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return durable.NonRetryable(fmt.Errorf("remote: %w", err))
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	c.sign(ctx, req, body, time.Now())
	resp, err := c.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the run's timeout or cancellation
		}
		return fmt.Errorf("remote: POST %s: %w", c.URL, err) // retryable
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxResponseBytes+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("remote: POST %s: reading the answer: %w", c.URL, err)
	case int64(len(answer)) > c.MaxResponseBytes:
		return durable.NonRetryable(fmt.Errorf("remote: POST %s: the answer is over the limit of %d bytes", c.URL, c.MaxResponseBytes))
	}
	return c.outcome(resp, answer, out)
}

// body is the request's body: the input, or {"json": input} for oRPC.
func (c *Config) body(in any) ([]byte, error) {
	if c.Procedure != "" {
		return json.Marshal(struct {
			JSON any `json:"json"`
		}{in})
	}
	return json.Marshal(in)
}

// outcome decodes a 2xx answer into out, or makes the error of another.
func (c *Config) outcome(resp *http.Response, answer []byte, out any) error {
	code := resp.StatusCode
	if code/100 == 2 {
		if err := c.decode(answer, out); err != nil {
			return durable.NonRetryable(fmt.Errorf("remote: POST %s: %d answer is not the output: %w", c.URL, code, err))
		}
		return nil
	}
	err := fmt.Errorf("remote: POST %s: %d %s: %s", c.URL, code, http.StatusText(code), message(answer))
	if code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return durable.RetryAfter(err, min(d, c.MaxRetryAfter))
		}
		return err
	}
	return durable.NonRetryable(err)
}

func (c *Config) decode(answer []byte, out any) error {
	if c.Procedure == "" {
		return json.Unmarshal(answer, out)
	}
	var env struct {
		JSON json.RawMessage `json:"json"`
	}
	if err := json.Unmarshal(answer, &env); err != nil {
		return err
	}
	if len(env.JSON) == 0 {
		env.JSON = json.RawMessage("null")
	}
	return json.Unmarshal(env.JSON, out)
}

// message is the error message an answer carries: a problem's detail, an
// oRPC error's message, a JSON error or message, or the text itself.
func message(answer []byte) string {
	var m struct {
		Detail  string `json:"detail"`
		Message string `json:"message"`
		Error   any    `json:"error"`
		JSON    struct {
			Message string `json:"message"`
		} `json:"json"`
	}
	if json.Unmarshal(answer, &m) == nil {
		for _, s := range []string{m.Detail, m.JSON.Message, m.Message} {
			if s != "" {
				return s
			}
		}
		if s, ok := m.Error.(string); ok && s != "" {
			return s
		}
	}
	s := strings.TrimSpace(string(answer))
	if len(s) > 1024 {
		s = s[:1024] + "..."
	}
	if s == "" {
		return "(no body)"
	}
	return s
}

// retryAfter parses a Retry-After: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s >= 0 {
		return time.Duration(min(s, int64(48*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sign sets the signature and the run's headers.
func (c *Config) sign(ctx context.Context, req *http.Request, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(HeaderSignature, "t="+ts+",v1="+hex.EncodeToString(mac(c.Secret, ts, body)))
	if info, ok := durable.Info(ctx); ok {
		req.Header.Set(HeaderExecutionID, info.ExecutionID)
		req.Header.Set(HeaderAttempt, strconv.Itoa(info.Attempt))
		req.Header.Set(HeaderTaskID, info.TaskID)
	}
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}
