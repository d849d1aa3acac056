package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/durable-go/durable/internal/webauth"
)

func (d *Dashboard) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /static/", d.static)
	m.HandleFunc("GET /login", d.login)
	m.HandleFunc("POST /login", d.login)
	m.HandleFunc("POST /logout", d.post(d.logout))
	m.HandleFunc("GET /{$}", d.get(d.overview))
	m.HandleFunc("GET /executions", d.get(d.list))
	m.HandleFunc("GET /executions/{id}", d.get(d.execution))
	m.HandleFunc("GET /executions/{id}/{action}", d.get(d.confirm))
	m.HandleFunc("POST /executions/{id}/{action}", d.post(d.act))
	m.HandleFunc("GET /events", d.events)
	return m
}

// handler is a page handler, given what the layout needs.
type handler func(w http.ResponseWriter, r *http.Request, b base)

// bearerSession stands for a request authenticated by its Authorization
// header (as the HTTP API's clients are): a browser never sends one by
// itself, so such a request needs no CSRF token.
var bearerSession = webauth.Session{ID: "bearer"}

// session returns r's session: its cookie's, or bearerSession for a
// request carrying the token as a bearer token; with NoAuth a new one when
// it has none; ok is false when r must log in.
func (d *Dashboard) session(w http.ResponseWriter, r *http.Request) (webauth.Session, bool) {
	if s, ok := d.auth.SessionOf(r); ok {
		return s, true
	}
	if !d.cfg.NoAuth && d.auth.Bearer(r) {
		return bearerSession, true
	}
	if d.cfg.NoAuth {
		return d.auth.StartSession(w, r), true
	}
	return webauth.Session{}, false
}

func (d *Dashboard) baseOf(s webauth.Session) base {
	return base{Prefix: d.cfg.Prefix, CSRF: d.auth.CSRFToken(s), ReadOnly: d.cfg.ReadOnly,
		Live: d.cfg.Events != nil, Auth: !d.cfg.NoAuth}
}

// get serves a page to a logged-in browser, and sends others to the login
// page.
func (d *Dashboard) get(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.session(w, r)
		if !ok {
			http.Redirect(w, r, d.cfg.Prefix+"/login?next="+url.QueryEscape(d.cfg.Prefix+r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, d.baseOf(s))
	}
}

// crossOrigin refuses cross-origin unsafe requests (by Sec-Fetch-Site or
// Origin), beside the CSRF token.
var crossOrigin = http.NewCrossOriginProtection()

// post serves a form of a logged-in browser that carries the session's
// CSRF token; it refuses the others with 403.
func (d *Dashboard) post(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.session(w, r)
		b := d.baseOf(s)
		if !ok {
			d.errorPage(w, http.StatusUnauthorized, b, "Not logged in", "Log in again: your session has expired or was never opened.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if s == bearerSession {
			h(w, r, b)
			return
		}
		if err := crossOrigin.Check(r); err != nil {
			d.errorPage(w, http.StatusForbidden, b, "Refused", "A form from another site cannot act here.")
			return
		}
		if !d.auth.CheckCSRF(s, r.PostFormValue("csrf")) {
			d.errorPage(w, http.StatusForbidden, b, "Refused",
				"The form's security token is missing or stale: go back, reload the page and try again.")
			return
		}
		h(w, r, b)
	}
}

// maxFormBytes bounds a form's body (a wake's output included).
const maxFormBytes = 2 << 20

type loginData struct {
	base
	Next, Error string
}

// login shows the login form, or logs in with the token given by the form
// or by the one-click URL's query, then goes to next.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	if !strings.HasPrefix(next, d.cfg.Prefix+"/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = d.cfg.Prefix + "/"
	}
	if d.cfg.NoAuth {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	data := loginData{base: base{Prefix: d.cfg.Prefix, Title: "Log in"}, Next: next}
	token := r.FormValue("token")
	if token == "" && r.Method == http.MethodGet {
		d.pages.render(w, http.StatusOK, "login", data)
		return
	}
	if !d.auth.CheckToken(token) {
		data.Error = "That is not the token."
		d.pages.render(w, http.StatusUnauthorized, "login", data)
		return
	}
	d.auth.StartSession(w, r)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, b base) {
	d.auth.EndSession(w, r)
	http.Redirect(w, r, d.cfg.Prefix+"/login", http.StatusSeeOther)
}

type errorData struct {
	base
	Heading, Message string
}

func (d *Dashboard) errorPage(w http.ResponseWriter, status int, b base, heading, msg string) {
	b.Title = heading
	d.pages.render(w, status, "error", errorData{base: b, Heading: heading, Message: msg})
}

func (d *Dashboard) notFound(w http.ResponseWriter, b base, msg string) {
	d.errorPage(w, http.StatusNotFound, b, "Not found", msg)
}

func (d *Dashboard) forbidden(w http.ResponseWriter, b base) {
	d.errorPage(w, http.StatusForbidden, b, "Read-only", "This dashboard is read-only: it takes no actions.")
}

// fail reports an error of the store (or a cancelled request).
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, b base, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the browser went away
	}
	d.log.Error("dashboard: page failed", "path", r.URL.Path, "error", err)
	d.errorPage(w, http.StatusInternalServerError, b, "The store failed", err.Error())
}
