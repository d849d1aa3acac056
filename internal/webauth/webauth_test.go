package webauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const token = "0123456789abcdef-token"

// cookieOf returns the session cookie StartSession set.
func cookieOf(t *testing.T, a *Auth) (*http.Cookie, Session) {
	t.Helper()
	w := httptest.NewRecorder()
	s := a.StartSession(w, httptest.NewRequest("GET", "/", nil))
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != CookieName || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie: %+v", cs)
	}
	return cs[0], s
}

func requestWith(c *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(c)
	return r
}

func TestSession(t *testing.T) {
	a, err := New(token, time.Hour, "/dash/")
	if err != nil {
		t.Fatal(err)
	}
	c, s := cookieOf(t, a)
	if c.Path != "/dash/" {
		t.Errorf("cookie path %q", c.Path)
	}
	got, ok := a.SessionOf(requestWith(c))
	if !ok || got.ID != s.ID {
		t.Fatalf("SessionOf: %+v %v, want %+v", got, ok, s)
	}
	// Tampered, of another token, expired: refused.
	bad := *c
	bad.Value = strings.Replace(c.Value, "v1.", "v1.9", 1)
	if _, ok := a.SessionOf(requestWith(&bad)); ok {
		t.Error("a tampered cookie was accepted")
	}
	other, _ := New(token+"x", time.Hour, "/")
	if _, ok := other.SessionOf(requestWith(c)); ok {
		t.Error("a cookie of another token was accepted")
	}
	a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, ok := a.SessionOf(requestWith(c)); ok {
		t.Error("an expired cookie was accepted")
	}
	for _, v := range []string{"", "x", "a.b.c.d", "v1.x.y." + a.sign("session", "v1.x.y")} {
		if _, ok := a.SessionOf(requestWith(&http.Cookie{Name: CookieName, Value: v})); ok {
			t.Errorf("cookie %q was accepted", v)
		}
	}
}

func TestCSRFAndBearer(t *testing.T) {
	a, _ := New(token, 0, "")
	_, s1 := cookieOf(t, a)
	_, s2 := cookieOf(t, a)
	if !a.CheckCSRF(s1, a.CSRFToken(s1)) {
		t.Error("the session's own CSRF token was refused")
	}
	if a.CheckCSRF(s1, a.CSRFToken(s2)) || a.CheckCSRF(s1, "") {
		t.Error("another session's or an empty CSRF token was accepted")
	}
	for h, want := range map[string]bool{"Bearer " + token: true, "bearer " + token: true, "Bearer nope": false, token: false, "": false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		if a.Bearer(r) != want {
			t.Errorf("Bearer with %q: %v, want %v", h, !want, want)
		}
	}
	if _, err := New("short", 0, ""); err == nil {
		t.Error("a short token was accepted")
	}
	if a, b := NewToken(), NewToken(); len(a) != 32 || a == b {
		t.Error("NewToken is not 32 random characters")
	}
}
