package remote

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Call says which run of which execution made a request.
type Call struct {
	ExecutionID string
	TaskID      string
	// Attempt counts the retries before this run (0 on the first): the
	// same ExecutionID with a higher Attempt is a retry of the same work.
	Attempt int
	// SignedAt is when the request was signed.
	SignedAt time.Time
}

// ErrSignature is the error of a request whose signature is missing,
// wrong or too old.
var ErrSignature = errors.New("remote: bad signature")

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Tolerance is how old (or how far in the future) a signature may be.
	// Default 5 minutes.
	Tolerance time.Duration
	// MaxBodyBytes limits the body read. Default 1 MiB.
	MaxBodyBytes int64
	// Now is the time to check against. Default time.Now.
	Now func() time.Time
}

// Verify checks that r was signed with secret, within the tolerance, and
// returns its body and the call's headers. A request that fails the check
// is ErrSignature (answer it 401, without doing the work).
func Verify(r *http.Request, secret []byte, opts VerifyOptions) ([]byte, Call, error) {
	if opts.Tolerance <= 0 {
		opts.Tolerance = 5 * time.Minute
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ts, sig, err := parseSignature(r.Header.Get(HeaderSignature))
	if err != nil {
		return nil, Call{}, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBodyBytes+1))
	if err != nil {
		return nil, Call{}, fmt.Errorf("remote: reading the body: %w", err)
	}
	if int64(len(body)) > opts.MaxBodyBytes {
		return nil, Call{}, fmt.Errorf("remote: the body is over %d bytes", opts.MaxBodyBytes)
	}
	if !hmac.Equal(sig, mac(secret, ts, body)) {
		return nil, Call{}, fmt.Errorf("%w: the signature does not match the body", ErrSignature)
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	signed := time.Unix(sec, 0)
	if skew := opts.Now().Sub(signed); skew > opts.Tolerance || -skew > opts.Tolerance {
		return nil, Call{}, fmt.Errorf("%w: signed at %s, more than %s from now", ErrSignature, signed.UTC().Format(time.RFC3339), opts.Tolerance)
	}
	attempt, _ := strconv.Atoi(r.Header.Get(HeaderAttempt))
	return body, Call{ExecutionID: r.Header.Get(HeaderExecutionID), TaskID: r.Header.Get(HeaderTaskID),
		Attempt: attempt, SignedAt: signed}, nil
}

func parseSignature(h string) (string, []byte, error) {
	var ts, v1 string
	for _, part := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || v1 == "" {
		return "", nil, fmt.Errorf("%w: no %s header of the form t=<unix seconds>,v1=<hex>", ErrSignature, HeaderSignature)
	}
	sig, err := hex.DecodeString(v1)
	if err != nil {
		return "", nil, fmt.Errorf("%w: v1 is not hex", ErrSignature)
	}
	return ts, sig, nil
}

// Permanent marks an error of a Handler's function as one not worth
// retrying: the Handler answers it 422, which fails the execution at once.
func Permanent(err error) error { return &permanent{err} }

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Handler serves a remote task's calls on the callee's side: it verifies
// each request (401 if it fails), decodes the body as I (400 if it
// cannot), runs fn and answers its output as JSON (200). An error of fn
// is answered 500, which the task retries, or 422 when marked Permanent,
// which fails it; the answer's body is {"error": message}.
func Handler[I, O any](secret []byte, opts VerifyOptions, fn func(ctx context.Context, call Call, in I) (O, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, call, err := Verify(r, secret, opts)
		if err != nil {
			answer(w, http.StatusUnauthorized, map[string]string{"error": err.Error()})
			return
		}
		var in I
		if err := json.Unmarshal(body, &in); err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": "decoding the input: " + err.Error()})
			return
		}
		out, err := fn(r.Context(), call, in)
		var p *permanent
		switch {
		case errors.As(err, &p):
			answer(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		case err != nil:
			answer(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			answer(w, http.StatusOK, out)
		}
	})
}

func answer(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the output failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
