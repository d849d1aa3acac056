package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/internal/webauth"
	"github.com/durable-go/durable/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// EventSource publishes the store's events: every storage.Store is one.
type EventSource interface {
	Subscribe(fn func(storage.Event)) (unsubscribe func())
}

// Config configures a Dashboard.
type Config struct {
	// Token is the secret a browser logs in with (at least 16 bytes; the
	// same token as the HTTP API's, when both are served). Required
	// unless NoAuth is set.
	Token string
	// NoAuth serves every page and action without authentication: for a
	// dashboard behind the application's own authenticating middleware.
	// Actions keep their CSRF protection (a per-browser cookie instead of
	// the session's).
	NoAuth bool
	// ReadOnly hides the actions (cancel, retry, wake, delete) and refuses
	// them with 403.
	ReadOnly bool
	// Prefix is the path the handler is mounted under, without a trailing
	// slash ("/dashboard"); empty for the root. The handler strips it
	// itself: mount it as mux.Handle(Prefix+"/", d).
	Prefix string
	// Events feeds the live updates; usually the executor's store. Nil:
	// the pages do not update live.
	Events EventSource
	// LeaseDuration is the executors' Config.LeaseDuration (default 30s):
	// an executor's last heartbeat is its latest lease expiry minus it.
	LeaseDuration time.Duration
	// SessionTTL is how long a login lasts (default 24 hours).
	SessionTTL time.Duration
	// LiveInterval is the shortest time between two of the live feed's
	// queries, whatever the number of viewers (default 1s).
	LiveInterval time.Duration
	// Logger receives the errors of pages and of the live feed (default:
	// slog.Default()).
	Logger *slog.Logger
}

// Dashboard is the web dashboard: an http.Handler serving the pages, the
// actions and the live feed. Close it to stop the live feed.
type Dashboard struct {
	ex     *durable.Executor
	cfg    Config
	auth   *webauth.Auth // with NoAuth, of a random token: sessions carry the CSRF token only
	mux    *http.ServeMux
	pages  *pages
	hub    *hub
	counts *countsCache
	// lastHourCounts counts the executions finished in the last hour.
	lastHourCounts *countsCache
	static         http.Handler
	log            *slog.Logger
}

// New returns a dashboard of the executions of ex's store. ex need not be
// started, nor have the tasks registered: the dashboard uses the operator
// methods only (List, Count, Get, Children, Cancel, Retry, Wake, Delete).
func New(ex *durable.Executor, cfg Config) (*Dashboard, error) {
	if ex == nil {
		return nil, errors.New("dashboard: nil executor")
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	d := &Dashboard{ex: ex, cfg: cfg, log: cfg.Logger}
	token := cfg.Token
	if cfg.NoAuth {
		token = webauth.NewToken()
	}
	a, err := webauth.New(token, cfg.SessionTTL, cfg.Prefix+"/")
	if err != nil {
		return nil, fmt.Errorf("dashboard: Config.Token: %w (or set NoAuth)", err)
	}
	d.auth = a
	p, err := newPages(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	d.pages = p
	sub, _ := fs.Sub(staticFS, "static")
	d.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	d.counts = &countsCache{ex: ex, min: countsEvery * cfg.LiveInterval}
	d.lastHourCounts = &countsCache{ex: ex, min: countsEvery * cfg.LiveInterval,
		filter: func() durable.Filter { return durable.Filter{FinishedFrom: time.Now().Add(-time.Hour)} }}
	d.hub = newHub(ex, d.pages, d.counts, cfg.LiveInterval, cfg.Logger)
	if cfg.Events != nil {
		d.hub.start(cfg.Events)
	}
	d.mux = d.routes()
	return d, nil
}

func (c *Config) normalize() error {
	if c.Token != "" && c.NoAuth {
		return errors.New("dashboard: both Token and NoAuth set: choose one")
	}
	if c.Token == "" && !c.NoAuth {
		return errors.New("dashboard: no Config.Token: give one (the API's), or set NoAuth behind your own authentication")
	}
	c.Prefix = strings.TrimSuffix(c.Prefix, "/")
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.ContainsAny(c.Prefix, "?#\"'<> ")) {
		return fmt.Errorf("dashboard: Config.Prefix %q: want a path such as /dashboard", c.Prefix)
	}
	for _, d := range []struct {
		v    *time.Duration
		name string
		def  time.Duration
	}{{&c.LeaseDuration, "LeaseDuration", 30 * time.Second}, {&c.SessionTTL, "SessionTTL", 24 * time.Hour},
		{&c.LiveInterval, "LiveInterval", time.Second}} {
		if *d.v < 0 {
			return fmt.Errorf("dashboard: Config.%s %v is negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Close stops the live feed and ends the open event streams.
func (d *Dashboard) Close() error {
	d.hub.stop()
	return nil
}

// ServeHTTP serves the dashboard under Config.Prefix.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if d.cfg.Prefix != "" {
		rest, ok := strings.CutPrefix(path, d.cfg.Prefix)
		if !ok || (rest != "" && rest[0] != '/') {
			http.NotFound(w, r)
			return
		}
		if rest == "" {
			http.Redirect(w, r, d.cfg.Prefix+"/", http.StatusFound)
			return
		}
		r2 := *r
		u := *r.URL
		u.Path, u.RawPath = rest, ""
		r2.URL = &u
		r = &r2
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; "+
		"script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	d.mux.ServeHTTP(w, r)
}

// LoginURL is the URL that logs a browser in with one click: base is where
// the dashboard is reached (scheme and host, "http://localhost:8080"),
// Config.Prefix is appended. Empty with NoAuth.
func (d *Dashboard) LoginURL(base string) string {
	if d.cfg.NoAuth {
		return ""
	}
	return strings.TrimSuffix(base, "/") + d.cfg.Prefix + "/login?token=" + url.QueryEscape(d.cfg.Token)
}
