// Package webauth authenticates browsers and HTTP clients with one shared
// secret token: a bearer token on each request (API clients), or a signed
// session cookie a browser gets once it has shown the token (a login form
// or a one-click login URL, as notebook servers print on start), and a
// CSRF token per session for the forms that change something.
//
// Sessions are stateless: the cookie carries its expiry and a random
// session id, signed with a key derived from the token (HMAC-SHA256), so
// any process that has the token checks it, and changing the token ends
// every session. Nothing is stored on the server; a session cannot be
// revoked before it expires except by changing the token.
package webauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieName is the session cookie's name.
const CookieName = "durable_session"

// MinTokenLen is the shortest token New accepts.
const MinTokenLen = 16

// Auth checks tokens and issues and checks sessions. It is safe for
// concurrent use.
type Auth struct {
	token []byte
	key   []byte // signs sessions and CSRF tokens
	ttl   time.Duration
	path  string // the cookie's path
	now   func() time.Time
}

// New returns an Auth for token, whose sessions last ttl (24 hours when
// zero) and whose cookie is sent for paths under cookiePath ("/" when
// empty). A token shorter than MinTokenLen bytes is refused.
func New(token string, ttl time.Duration, cookiePath string) (*Auth, error) {
	if len(token) < MinTokenLen {
		return nil, errors.New("webauth: the token must be at least 16 bytes (generate one with NewToken)")
	}
	if ttl < 0 {
		return nil, errors.New("webauth: negative session lifetime")
	}
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	if cookiePath == "" {
		cookiePath = "/"
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("durable session key v1"))
	return &Auth{token: []byte(token), key: mac.Sum(nil), ttl: ttl, path: cookiePath, now: time.Now}, nil
}

// NewToken returns a random token of 32 URL-safe characters.
func NewToken() string {
	b := make([]byte, 24)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CheckToken reports whether given is the token (in constant time).
func (a *Auth) CheckToken(given string) bool {
	return subtle.ConstantTimeCompare([]byte(given), a.token) == 1
}

// Bearer reports whether r carries the token in an Authorization: Bearer
// header.
func (a *Auth) Bearer(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && a.CheckToken(strings.TrimSpace(tok))
}

// Session is a browser's logged-in session.
type Session struct {
	// ID is random, fixed for the session's life: the CSRF token derives
	// from it.
	ID      string
	Expires time.Time
}

// StartSession sets a new session cookie on w, Secure when r came over
// TLS, and returns the session.
func (a *Auth) StartSession(w http.ResponseWriter, r *http.Request) Session {
	b := make([]byte, 18)
	rand.Read(b)
	s := Session{ID: base64.RawURLEncoding.EncodeToString(b), Expires: a.now().Add(a.ttl).Truncate(time.Second)}
	payload := "v1." + strconv.FormatInt(s.Expires.Unix(), 10) + "." + s.ID
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: payload + "." + a.sign("session", payload),
		Path: a.path, Expires: s.Expires, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	return s
}

// EndSession clears the session cookie.
func (a *Auth) EndSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: a.path, MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// SessionOf returns r's session when its cookie is valid and unexpired.
func (a *Auth) SessionOf(r *http.Request) (Session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return Session{}, false
	}
	i := strings.LastIndexByte(c.Value, '.')
	if i < 0 {
		return Session{}, false
	}
	payload, sig := c.Value[:i], c.Value[i+1:]
	if !hmac.Equal([]byte(sig), []byte(a.sign("session", payload))) {
		return Session{}, false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return Session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || a.now().Unix() >= exp {
		return Session{}, false
	}
	return Session{ID: parts[2], Expires: time.Unix(exp, 0)}, true
}

// CSRFToken is the token the session's forms carry.
func (a *Auth) CSRFToken(s Session) string { return a.sign("csrf", s.ID) }

// CheckCSRF reports whether given is the session's CSRF token.
func (a *Auth) CheckCSRF(s Session, given string) bool {
	return given != "" && hmac.Equal([]byte(given), []byte(a.CSRFToken(s)))
}

func (a *Auth) sign(purpose, payload string) string {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
